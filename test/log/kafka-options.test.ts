/** The Kafka log's options (no broker needed): one schema, every problem at once, TLS files, SASL secrets. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { resolveKafkaLogOptions } from '../../src/log/kafka/options.js';
import { tempDir } from '../helpers/tmp.js';

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'EDDY_INVALID_CONFIG', String(err));
    return [...(err as { problems: string[] }).problems];
  }
  assert.fail('expected a ConfigError');
};

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('resolveKafkaLogOptions', () => {
  it('reports every bad key at once, and never shows a secret', () => {
    const problems = problemsOf(() =>
      resolveKafkaLogOptions({
        brokers: ['nohost'],
        clientId: '',
        retries: -1,
        requestTimeoutMs: 1.5,
        tls: { caFile: 3, bogus: true },
        sasl: { mechanism: 'KERBEROS', password: 12345 },
        maxWait: 1,
      } as never),
    );
    const text = problems.join('\n');
    for (const line of [
      'maxWait: unknown key; did you mean maxWaitMs?',
      'brokers[0]: expected "host:port", got "nohost"',
      'clientId: expected a non-empty string, got ""',
      'retries: expected an integer in 0..1000000, got -1',
      'requestTimeoutMs: expected a positive integer of ms, got 1.5',
      'tls: expected true, false or {',
      'sasl.mechanism: expected "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" or "OAUTHBEARER", got "KERBEROS"',
      'sasl.password: expected a non-empty string or a function returning it, got (hidden)',
    ]) {
      assert.ok(
        problems.some((p) => p.startsWith(line)),
        `${line}\nnot in:\n${text}`,
      );
    }
    assert.doesNotMatch(text, /12345/);
  });

  it('an impossible combination: maxWaitMs not below requestTimeoutMs', () => {
    assert.deepEqual(
      problemsOf(() => resolveKafkaLogOptions({ brokers: ['h:1'], maxWaitMs: 5000, requestTimeoutMs: 5000 })),
      ['maxWaitMs (5000) must be below requestTimeoutMs (5000): lower maxWaitMs or raise requestTimeoutMs'],
    );
  });

  it('TLS: reads the PEM files once, refuses a missing or non-PEM file, a key without its certificate', (t) => {
    const dir = tempDir(t);
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, PEM);
    const o = resolveKafkaLogOptions({ brokers: ['h:1'], tls: { caFile: ca, servername: 'kafka.local' } });
    assert.equal(o.security, 'TLS');
    assert.equal(String(o.connection.tls?.ca), PEM);
    assert.equal(o.connection.tlsServerName, 'kafka.local');
    assert.deepEqual(resolveKafkaLogOptions({ brokers: ['h:1'], tls: true }).connection, { tls: {} });
    assert.deepEqual(resolveKafkaLogOptions({ brokers: ['h:1'] }).connection, {});
    writeFileSync(join(dir, 'key.der'), Buffer.from([0x30, 0x82]));
    assert.deepEqual(
      problemsOf(() =>
        resolveKafkaLogOptions({
          brokers: ['h:1'],
          tls: { caFile: join(dir, 'nope.pem'), keyFile: join(dir, 'key.der'), ca: PEM },
        }),
      ),
      [
        'tls.ca, tls.caFile: give one of them, not both',
        `tls.keyFile: ${join(dir, 'key.der')} is not PEM (no "-----BEGIN" line); convert it, e.g. openssl x509 -outform pem`,
        'tls.cert: a private key needs its client certificate (tls.cert or tls.certFile)',
      ],
    );
  });

  it('SASL: secrets are functions in the client options (never printed); a password file is read at each authentication', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'password');
    writeFileSync(file, 'first\n');
    const o = resolveKafkaLogOptions({
      brokers: ['h:1'],
      sasl: { mechanism: 'SCRAM-SHA-256', username: 'eddy', passwordFile: file },
    });
    assert.equal(o.security, 'plaintext, SASL/SCRAM-SHA-256 as "eddy"');
    const password = o.connection.sasl?.password as () => Promise<string>;
    assert.equal(await password(), 'first');
    writeFileSync(file, 'rotated\n');
    assert.equal(await password(), 'rotated');
    const inline = resolveKafkaLogOptions({
      brokers: ['h:1'],
      sasl: { mechanism: 'PLAIN', username: 'eddy', password: 'hunter2' },
    });
    assert.doesNotMatch(inspect(inline, { depth: 10 }), /hunter2/);
    assert.doesNotMatch(JSON.stringify(inline), /hunter2/);
    const inlinePassword = inline.connection.sasl?.password as () => string;
    assert.equal(await inlinePassword(), 'hunter2');
    assert.deepEqual(
      problemsOf(() =>
        resolveKafkaLogOptions({ brokers: ['h:1'], sasl: { mechanism: 'OAUTHBEARER', username: 'u' } }),
      ),
      [
        'sasl.username: OAUTHBEARER takes a token (sasl.token or sasl.tokenFile), not a username',
        'sasl.token: OAUTHBEARER needs a token (sasl.token or sasl.tokenFile)',
      ],
    );
    writeFileSync(join(dir, 'empty'), '\n');
    assert.deepEqual(
      problemsOf(() =>
        resolveKafkaLogOptions({
          brokers: ['h:1'],
          sasl: { mechanism: 'OAUTHBEARER', tokenFile: join(dir, 'empty') },
        }),
      ),
      [`sasl.tokenFile: ${join(dir, 'empty')} is empty`],
    );
  });
});
