/**
 * A real Kafka cluster for one test file: `startBroker()` runs `scripts/kafka start` in a fresh
 * temporary directory and registers its stop with `after()`, so the JVMs, ports and data go away
 * even when tests fail. The script's watchdog (`--owner-pid`) kills the cluster if this process dies
 * without stopping it (a crash, a SIGKILL of the test runner), and an `exit` hook stops it
 * synchronously as a last resort.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const SCRIPT = new URL('../../scripts/kafka', import.meta.url).pathname;

export interface Broker {
  /** `127.0.0.1:PORT,…` */
  readonly bootstrap: string;
  /** The bootstrap servers as a list. */
  readonly brokers: string[];
  /** The cluster's directory (logs in `node-N/server.log`). */
  readonly dir: string;
  /** With `security: true`: the secured listeners, the CA and client files, the test user. */
  readonly security: BrokerSecurity | undefined;
  /** SIGKILLs node `n` (1-based). */
  killBroker(n: number): void;
  /** Stops the cluster and removes its directory. Idempotent. */
  stop(): void;
}

export interface StartBrokerOptions {
  /** 1 (default) or 3 nodes. */
  brokers?: 1 | 3;
  /** Also SSL, SASL_SSL and SASL_PLAINTEXT listeners (`scripts/kafka start --security`; 1 node). */
  security?: boolean;
}

/** What `scripts/kafka start --security` wrote to `<dir>/security.json`. */
export interface BrokerSecurity {
  /** `127.0.0.1:PORT` of the SSL listener (TLS; a client certificate is asked for, not required). */
  tls: string;
  /** SASL over TLS: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (unsecured JWTs). */
  saslSsl: string;
  /** SASL without TLS, the same mechanisms. */
  saslPlaintext: string;
  caFile: string;
  /** A CA that signed nothing: trusting only it must refuse the broker. */
  otherCaFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  username: string;
  password: string;
}

export function startBroker(options: StartBrokerOptions = {}): Broker {
  const dir = join(mkdtempSync(join(tmpdir(), 'eddy-kafka-')), 'cluster');
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stop);
    spawnSync(SCRIPT, ['stop', '--dir', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    rmSync(join(dir, '..'), { recursive: true, force: true });
  };
  process.on('exit', stop);
  after(stop);
  let bootstrap: string;
  try {
    bootstrap = execFileSync(
      SCRIPT,
      [
        'start',
        '--brokers',
        String(options.brokers ?? 1),
        '--dir',
        dir,
        '--owner-pid',
        String(process.pid),
        ...(options.security === true ? ['--security'] : []),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    ).trim();
  } catch (err) {
    stop();
    throw err;
  }
  return {
    bootstrap,
    brokers: bootstrap.split(','),
    dir,
    security:
      options.security === true
        ? (JSON.parse(readFileSync(join(dir, 'security.json'), 'utf8')) as BrokerSecurity)
        : undefined,
    killBroker: (n) => {
      execFileSync(SCRIPT, ['kill-broker', String(n), '--dir', dir], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    },
    stop,
  };
}
