/**
 * TLS and SASL against a real broker (`scripts/kafka start --security`: SSL, SASL_SSL and
 * SASL_PLAINTEXT listeners, a test CA, SCRAM users created at format time). The Kafka log connects
 * over each, and refuses a wrong CA or a wrong password with an Eddy error that names the cause
 * (and never the password); `eddy run` on Kafka connects its log and its group's consumer with
 * the `--kafka-*` flags and `$EDDY_KAFKA_PASSWORD`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type KafkaLogOptions, openKafkaLog } from '../src/log/kafka/kafka-log.js';
import { type Broker, startBroker } from './helpers/broker.js';
import { spawnEddy, waitUntil } from './helpers/eddy-process.js';

// started when the file loads (startBroker registers its own stop with after())
const broker: Broker = startBroker({ security: true });
const sec = broker.security!;
const dir = mkdtempSync(join(tmpdir(), 'eddy-ksec-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Opens a log with `options`, writes and reads back one record, closes it. */
async function roundTrip(options: KafkaLogOptions): Promise<void> {
  const log = await openKafkaLog({ retries: 1, ...options });
  try {
    const topic = `secure-${++n}`;
    await log.createTopic(topic, { partitions: 1 });
    await log.append(topic, 0, [{ key: Buffer.from('k'), value: Buffer.from(`v${n}`) }]);
    const [record] = await log.read(topic, 0, 0);
    assert.equal(String(record.value), `v${n}`);
  } finally {
    await log.close();
  }
}

const rejects = (options: KafkaLogOptions, check: (message: string) => void) =>
  assert.rejects(
    openKafkaLog({ retries: 1, ...options }),
    (err: Error & { code?: string; retriable?: boolean }) => {
      assert.equal(err.code, 'EDDY_KAFKA');
      assert.equal(err.retriable, false);
      check(err.message);
      return true;
    },
  );

describe('TLS', () => {
  it('connects with the CA that signed the broker, and with a client certificate (mutual TLS)', async () => {
    await roundTrip({ brokers: [sec.tls], tls: { caFile: sec.caFile } });
    await roundTrip({
      brokers: [sec.tls],
      tls: { caFile: sec.caFile, certFile: sec.clientCertFile, keyFile: sec.clientKeyFile },
    });
  });

  it('refuses a broker whose certificate another CA signed, saying so', async () => {
    await rejects({ brokers: [sec.tls], tls: { caFile: sec.otherCaFile } }, (m) => {
      assert.match(m, /^connecting to Kafka at 127\.0\.0\.1:\d+ \(TLS\) failed/);
      assert.match(m, /not signed by a trusted CA \(SELF_SIGNED_CERT_IN_CHAIN\); give the CA that signed it/);
    });
  });

  it('TLS against a plaintext port is a clear error', async () => {
    await rejects({ brokers: [sec.saslPlaintext], tls: { caFile: sec.caFile }, retries: 0 }, (m) =>
      assert.match(m, /TLS handshake failed: the port does not speak TLS/),
    );
  });
});

describe('SASL', () => {
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
    it(`${mechanism} over TLS: connects, and refuses a wrong password naming the mechanism, never the password`, async () => {
      const tls = { caFile: sec.caFile };
      await roundTrip({
        brokers: [sec.saslSsl],
        tls,
        sasl: { mechanism, username: sec.username, password: sec.password },
      });
      const wrong = 'not-the-password-7f3a';
      await rejects(
        { brokers: [sec.saslSsl], tls, sasl: { mechanism, username: sec.username, password: wrong } },
        (m) => {
          assert.match(
            m,
            new RegExp(`SASL/${mechanism} authentication as "eddy" failed: the broker refused`),
          );
          assert.doesNotMatch(m, new RegExp(`${wrong}|${sec.password}`));
        },
      );
    });
  }

  it('PLAIN (password from a file) and OAUTHBEARER (token from a file) without TLS', async () => {
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, `${sec.password}\n`);
    await roundTrip({
      brokers: [sec.saslPlaintext],
      sasl: { mechanism: 'PLAIN', username: sec.username, passwordFile },
    });
    // the broker's default OAUTHBEARER validator takes unsecured JWTs (alg none) with a sub
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${b64({ alg: 'none' })}.${b64({ sub: 'eddy', iat: now, exp: now + 600 })}.\n`);
    await roundTrip({ brokers: [sec.saslPlaintext], sasl: { mechanism: 'OAUTHBEARER', tokenFile } });
    writeFileSync(tokenFile, 'not-a-jwt');
    await rejects({ brokers: [sec.saslPlaintext], sasl: { mechanism: 'OAUTHBEARER', tokenFile } }, (m) =>
      assert.match(m, /SASL\/OAUTHBEARER authentication failed: the broker refused the token/),
    );
  });
});

describe('eddy run over SASL_SSL', () => {
  it('the log and the group consumer connect with --kafka-* flags and $EDDY_KAFKA_PASSWORD', async () => {
    const job = new URL('./fixtures/count-job.ts', import.meta.url).pathname;
    const sasl = { mechanism: 'SCRAM-SHA-512', username: sec.username, password: sec.password } as const;
    const log = await openKafkaLog({ brokers: [sec.saslSsl], tls: { caFile: sec.caFile }, sasl });
    try {
      await log.createTopic('kcountsec-in', { partitions: 2 });
      await log.append('kcountsec-in', 0, [{ key: Buffer.from('a'), value: Buffer.from('1') }]);
    } finally {
      await log.close();
    }
    const flags = [
      '--kafka-ca',
      sec.caFile,
      '--kafka-sasl',
      'SCRAM-SHA-512',
      '--kafka-username',
      sec.username,
    ];
    const eddy = spawnEddy(
      ['run', job, '--backend', 'kafka', '--brokers', sec.saslSsl, '--data-dir', join(dir, 'run'), ...flags],
      { SUFFIX: 'sec', EDDY_KAFKA_PASSWORD: sec.password },
    );
    await waitUntil(
      'the worker joined its group',
      () => eddy.lines.some((l) => /^generation \d+: tasks/.test(l)),
      60_000,
      200,
    );
    assert.equal(await eddy.stop(), 0, eddy.lines.join('\n'));
    assert.ok(!eddy.lines.join('\n').includes(sec.password), 'the password is never printed');
  });
});

describe('the shell tools over SASL_SSL', () => {
  it('topics, produce and consume take the --kafka-* flags and $EDDY_KAFKA_PASSWORD; a wrong password is refused without printing it', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = new URL('../bin/eddy.js', import.meta.url).pathname;
    const flags = [
      '--backend',
      'kafka',
      '--brokers',
      sec.saslSsl,
      '--kafka-ca',
      sec.caFile,
      '--kafka-sasl',
      'SCRAM-SHA-256',
      '--kafka-username',
      sec.username,
    ];
    const eddy = (args: string[], password: string, input?: string) =>
      spawnSync(process.execPath, [bin, ...args, ...flags], {
        input,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, EDDY_FROM_SOURCE: '1', EDDY_KAFKA_PASSWORD: password },
      });
    const create = eddy(['topics', 'create', 'shellsec', '--partitions', '1'], sec.password);
    assert.equal(create.status, 0, create.stderr);
    const produce = eddy(['produce', 'shellsec'], sec.password, 'k\tv1\nk\tv2\n');
    assert.equal(produce.status, 0, produce.stderr);
    assert.match(produce.stdout, /produced 2 record\(s\) to topic shellsec/);
    const consume = eddy(['consume', 'shellsec', '--from-beginning', '--max', '2'], sec.password);
    assert.equal(consume.status, 0, consume.stderr);
    assert.match(consume.stdout, /\tk\tv1\n.*\tk\tv2\n/s);
    const wrong = eddy(['topics', 'list'], 'not-the-password');
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr, /SCRAM-SHA-256/);
    assert.ok(!wrong.stderr.includes('not-the-password'), 'the password is never printed');
  });
});
