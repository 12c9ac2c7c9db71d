// The smallest TCP service a test can ask a guest to run, and its client: a server in a network
// namespace that answers each connection with a fixed text and closes, and one connection that
// reads what it says. Both run this machine's node binary under `ip netns exec`.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from '../env/processes.js';
import { netnsExec } from './netns.js';

const SERVE = "require('net').createServer((s) => s.end(process.argv[2])).listen(Number(process.argv[1]))";
const READ = `
const s = require('net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
let got = '';
s.setTimeout(3000, () => { console.log('timeout'); process.exit(1); });
s.on('data', (d) => (got += d));
s.on('end', () => { console.log(got); process.exit(0); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
`;

/** A server in `netns` on `port`; kill it (SIGKILL) when done. */
export function serveText(netns: string, port: number, text: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', SERVE, String(port), text], {
    stdio: 'ignore',
  });
}

/** What the server at host:port says to one connection from `netns`; '' on timeout or refusal. */
export async function readText(netns: string, host: string, port: number): Promise<string> {
  return (await netnsExec(netns, process.execPath, '-e', READ, host, String(port)).catch(() => '')).trim();
}

/** The first answer from host:port, trying again until one comes (a path being set up); throws after the timeout. */
export function awaitText(netns: string, host: string, port: number, timeoutMs = 15_000): Promise<string> {
  return waitFor(
    `${host}:${port} from ${netns}`,
    async () => (await readText(netns, host, port)) || undefined,
    timeoutMs,
  );
}
