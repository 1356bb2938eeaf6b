/** Spawn the `naflow` CLI as a user would, with the NAFLOW_* environment cleared. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/defaults.js';

export const BIN = path.join(PACKAGE_ROOT, 'bin', 'naflow.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI; a hung process (e.g. wasm threads keeping it alive) fails the test after `timeoutMs`. */
export function naflow(args: string[], env: Record<string, string> = {}, timeoutMs = 180_000): Promise<Run> {
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NAFLOW_') && v !== undefined) cleanEnv[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: PACKAGE_ROOT, env: { ...cleanEnv, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`naflow ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
