/**
 * The bare HTTP stack of bench/platform-notify.ts as its own process, as the
 * platform is in that run: fastify with the same raw-body parser, answering
 * 204 with no work. Prints `ready <url>` and stops on SIGTERM.
 *
 *   node --import tsx bench/platform-notify-bare.ts
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, body, done) =>
  done(null, body),
);
app.post('/notify/:provider', async (_req, reply) => reply.status(204).send());
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
const port = typeof addr === 'object' && addr ? addr.port : 0;
process.stdout.write(`ready http://127.0.0.1:${port}\n`);
process.once('SIGTERM', () => {
  void app.close().finally(() => process.exit(0));
});
