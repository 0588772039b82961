#!/usr/bin/env node
// Runs the TypeScript sources through tsx so that the installed command and
// `npm start` execute exactly the code the tests cover (no separate build).
import { register } from 'tsx/esm/api';

register();
await import('../main/cli.ts');
