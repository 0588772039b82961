/**
 * Log lines for the systemd journal. systemd sets JOURNAL_STREAM to the
 * device and inode of the stream it connected stdout/stderr to
 * (systemd.exec(5), "Environment variables in spawned processes"); when fd 1
 * is still that stream, each pino JSON line is prefixed with its syslog
 * priority as `<N>` (sd-daemon(3)), which journald strips and stores as the
 * entry's PRIORITY. Then `journalctl -p warning` shows warnings and errors,
 * and the JSON stays intact for `journalctl -o cat | jq`. Elsewhere (a
 * terminal, a file, docker) nothing changes.
 */
import { fstatSync } from 'node:fs';
import { Writable } from 'node:stream';

/** pino's numeric levels to syslog priorities (RFC 5424 section 6.2.1). */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2; // fatal -> crit
  if (pinoLevel >= 50) return 3; // error -> err
  if (pinoLevel >= 40) return 4; // warn -> warning
  if (pinoLevel >= 30) return 6; // info -> info
  return 7; // debug, trace -> debug
}

/** Whether file descriptor `fd` is the journal stream systemd gave this process. */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(fd);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** `<priority>` when `fd` is the journal, else nothing: for the CLI's own last line on stderr. */
export function journalPrefix(fd: number, priority: number, env: NodeJS.ProcessEnv = process.env): string {
  return isJournalStream(fd, env) ? `<${priority}>` : '';
}

const LEVEL = /^\{"level":(\d+)/;

/** One pino line with its priority prefix; pino writes `{"level":N,...` first. */
export function withPriority(line: string): string {
  const m = LEVEL.exec(line);
  return `<${syslogPriority(m ? Number(m[1]) : 30)}>${line}`;
}

/**
 * A pino destination that prefixes every line with its priority, writing
 * to `out` (stdout); undefined when stdout is not the journal.
 */
export function journalLogDestination(
  env: NodeJS.ProcessEnv = process.env,
  out: NodeJS.WritableStream = process.stdout,
): Writable | undefined {
  if (!isJournalStream(1, env)) return undefined;
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      out.write(withPriority(String(chunk)));
      done();
    },
  });
}
