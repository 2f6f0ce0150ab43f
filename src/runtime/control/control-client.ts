/**
 * The shell tools' side of the control socket (`control-server.ts`): one request, one response,
 * over a fresh connection. An error answer is rethrown as an `EddyError` with the server's code,
 * so `eddy produce` next to a running job fails exactly as it would alone (`EDDY_UNKNOWN_TOPIC`,
 * `EDDY_UNKNOWN_PARTITION`, …).
 *
 * The data directory's owner opens its log before it serves the socket: while the lock is held
 * by a live process and the socket is missing or refuses, the client retries for `waitMs`
 * (default 5 s), then fails with `ControlError` saying so.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { ControlError, EddyError, type ErrorCode } from '../../util/errors.js';
import { encodeFrame, type Frame, FrameReader } from './control-protocol.js';
import { controlSocketPath } from './control-server.js';

export interface ControlRequestOptions {
  /** How long to wait for the socket to appear / accept (default 5000 ms). */
  waitMs?: number;
  /** Whether the data directory's owner is still alive (retries stop when it is not). */
  ownerAlive?: () => boolean;
}

function once(path: string, request: Buffer): Promise<Frame> {
  return new Promise<Frame>((resolve, reject) => {
    const socket = connect(path);
    const reader = new FrameReader();
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      fn();
    };
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      try {
        const frames = reader.push(chunk);
        if (frames.length > 0) settle(() => resolve(frames[0]));
      } catch (err) {
        settle(() => reject(err));
      }
    });
    socket.once('error', (err) => settle(() => reject(err)));
    socket.once('close', () =>
      settle(() => reject(new ControlError(`the control socket ${path} closed before it answered`))),
    );
  });
}

/** Sends one request to the control socket of `dataDir`; resolves with its result (and payload). */
export async function controlRequest<T = unknown>(
  dataDir: string,
  header: Record<string, unknown>,
  payload?: Uint8Array,
  options: ControlRequestOptions = {},
): Promise<{ result: T; payload: Buffer }> {
  const path = controlSocketPath(dataDir);
  const request = encodeFrame(header, payload);
  const deadline = Date.now() + (options.waitMs ?? 5000);
  for (;;) {
    let frame: Frame;
    try {
      frame = await once(path, request);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retry = code === 'ENOENT' || code === 'ECONNREFUSED';
      if (retry && Date.now() < deadline && (options.ownerAlive?.() ?? true)) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (err instanceof EddyError) throw err;
      throw new ControlError(
        retry
          ? `the process that holds ${dataDir} serves no control socket at ${path}${existsSync(path) ? ' (it refuses connections)' : ''}; it may be an older eddy, or still starting: try again`
          : `control socket ${path}: ${(err as Error).message}`,
        { cause: err, retriable: retry },
      );
    }
    const h = frame.header as {
      ok?: boolean;
      result?: T;
      error?: { code: ErrorCode; message: string; retriable?: boolean };
    };
    if (h.ok === true) return { result: h.result as T, payload: frame.payload };
    const e = h.error ?? {
      code: 'EDDY_CONTROL' as ErrorCode,
      message: 'the control socket answered no result',
    };
    throw new EddyError(e.code, e.message, { retriable: e.retriable === true });
  }
}
