/** `eddy run`'s configuration: every source checked at once, precedence, the file, secrets, the JSON Schema. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  envOf,
  flagOf,
  KAFKA_SECURITY_FLAG_OPTIONS,
  kafkaSecurityOf,
  RUN_DEFAULTS,
  RUN_ENV_VARS,
  RUN_FLAG_OPTIONS,
  RUN_KEYS,
  resolveKafkaSecurity,
  resolveRunConfig,
  runConfigJsonSchema,
} from '../../src/cli/run-config.js';
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

function configFile(t: { after(fn: () => void): void }, content: unknown): string {
  const file = join(tempDir(t), 'eddy.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('resolveRunConfig', () => {
  it('--http, --http-token, --log-format and --log-level are keys: flag, $EDDY_*, file; bad values name the key', (t) => {
    const file = configFile(t, { http: '127.0.0.1:9090', logFormat: 'json' });
    const c = resolveRunConfig({ 'log-level': 'debug' }, file, { EDDY_HTTP_TOKEN: 's3cret' });
    assert.equal(c.http, '127.0.0.1:9090');
    assert.equal(c.httpToken, 's3cret');
    assert.equal(c.logFormat, 'json');
    assert.equal(c.logLevel, 'debug');
    assert.equal(resolveRunConfig({}, undefined, { EDDY_HTTP: ':0' }).http, ':0');
    assert.equal(resolveRunConfig({ http: '[::1]:80' }, undefined, {}).http, '[::1]:80');
    const problems = problemsOf(() =>
      resolveRunConfig({ http: 'localhost', 'log-format': 'xml' }, undefined, {
        EDDY_LOG_LEVEL: 'loud',
        EDDY_HTTP_TOKEN: '',
      }),
    );
    for (const line of [
      'http (--http): expected HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:9090), got "localhost"',
      'logFormat (--log-format): expected "json" or "pretty", got "xml"',
      'logLevel ($EDDY_LOG_LEVEL): expected',
    ]) {
      assert.ok(
        problems.some((p) => p.startsWith(line)),
        `${line}\nnot in:\n${problems.join('\n')}`,
      );
    }
  });
  it('reports every bad key of every source at once, naming the key, its source and what is expected', (t) => {
    const file = configFile(t, { backend: 'kafak', workrs: 2, dataDir: 3, sessionTimeout: 10 });
    const problems = problemsOf(() =>
      resolveRunConfig({ standbys: 'many', 'kafka-tls': true }, file, {
        EDDY_FSYNC: 'sometimes',
        EDDY_WORKERS: '2x',
      }),
    );
    const expected = [
      `workrs (in ${file}): unknown key; did you mean workers?`,
      `backend (in ${file}): expected "embedded" or "kafka", got "kafak"`,
      `dataDir (in ${file}): expected a directory path, got 3`,
      `sessionTimeout (in ${file}): expected an integer of ms in 1000..1800000, got 10`,
      'fsync ($EDDY_FSYNC): expected "always", "commit" or "os", got "sometimes"',
      'workers ($EDDY_WORKERS): expected an integer in 0..256, got "2x"',
      'standbys (--standbys): expected an integer in 0..16, got "many"',
    ];
    for (const line of expected) {
      assert.ok(
        problems.some((p) => p.startsWith(line)),
        `${line}\nnot in:\n${problems.join('\n')}`,
      );
    }
    assert.equal(problems.length, expected.length, problems.join('\n'));
  });

  it('threads: N or auto from a flag, a variable or the file; 0, x or 2000 are refused naming the key', (t) => {
    assert.equal(resolveRunConfig({ threads: '3' }, undefined, {}).threads, 3);
    assert.equal(resolveRunConfig({ threads: 'auto' }, undefined, {}).threads, 'auto');
    assert.equal(resolveRunConfig({}, undefined, { EDDY_THREADS: '2' }).threads, 2);
    assert.equal(resolveRunConfig({}, undefined, {}).threads, undefined); // then the job's, else 1
    const file = join(tempDir(t), 'eddy.json');
    writeFileSync(file, JSON.stringify({ threads: 'auto' }));
    assert.equal(resolveRunConfig({}, file, {}).threads, 'auto');
    for (const bad of ['0', 'x', '2000', '1.5']) {
      assert.deepEqual(
        problemsOf(() => resolveRunConfig({ threads: bad }, undefined, {})),
        [
          `threads (--threads): expected a positive integer (1..1024) or auto, got ${/^\d+$/.test(bad) ? bad : JSON.stringify(bad)}`,
        ],
      );
    }
    assert.deepEqual(
      problemsOf(() => resolveRunConfig({}, undefined, { EDDY_THREADS: 'many' })),
      ['threads ($EDDY_THREADS): expected a positive integer (1..1024) or auto, got "many"'],
    );
    writeFileSync(file, JSON.stringify({ threads: 0 }));
    assert.match(
      problemsOf(() => resolveRunConfig({}, file, {}))[0],
      /^threads \(.*eddy\.json.*\): expected a positive integer \(1\.\.1024\) or auto, got 0$/,
    );
  });

  it('precedence: flags, then EDDY_* variables, then the file, then the defaults', (t) => {
    const file = configFile(t, {
      fsync: 'os',
      dataDir: '/from/file',
      standbys: 2,
      backend: 'kafka',
      brokers: ['f:1'],
    });
    const c = resolveRunConfig({ 'data-dir': '/from/flag' }, file, {
      EDDY_DATA_DIR: '/from/env',
      EDDY_FSYNC: 'always',
      EDDY_BROKERS: 'a:1, b:2',
    });
    assert.equal(c.dataDir, '/from/flag');
    assert.equal(c.fsync, 'always');
    assert.deepEqual(c.brokers, ['a:1', 'b:2']);
    assert.equal(c.standbys, 2);
    assert.equal(c.workers, RUN_DEFAULTS.workers);
    assert.deepEqual(resolveRunConfig({}, undefined, {}), RUN_DEFAULTS);
  });

  it('the config file can set every option a flag can, under the flag name in camelCase', (t) => {
    const properties = (runConfigJsonSchema() as { properties: Record<string, unknown> }).properties;
    for (const flag of Object.keys(RUN_FLAG_OPTIONS)) {
      const key = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      assert.equal(flagOf(key), flag);
      assert.ok(key in properties, `the config file has no key for --${flag}`);
    }
    // and really applies them
    const dir = tempDir(t);
    const secret = join(dir, 'password');
    writeFileSync(secret, 'pw\n');
    const file = configFile(t, {
      backend: 'kafka',
      brokers: ['127.0.0.1:9092'],
      untilCaughtUp: true,
      workers: 3,
      standbys: 1,
      workerId: 'w1',
      sessionTimeout: 6000,
      kafkaSasl: 'SCRAM-SHA-512',
      kafkaUsername: 'eddy',
      kafkaPasswordFile: secret,
    });
    const c = resolveRunConfig({}, file, {});
    assert.deepEqual(
      { ...c },
      {
        ...RUN_DEFAULTS,
        backend: 'kafka',
        brokers: ['127.0.0.1:9092'],
        untilCaughtUp: true,
        workers: 3,
        standbys: 1,
        workerId: 'w1',
        sessionTimeout: 6000,
        kafkaSasl: 'SCRAM-SHA-512',
        kafkaUsername: 'eddy',
        kafkaPasswordFile: secret,
      },
    );
    assert.deepEqual(kafkaSecurityOf(c).sasl?.mechanism, 'SCRAM-SHA-512');
    // a supervised worker: EDDY_WORKERS=0 (set by the supervisor) beats the file's workers
    assert.equal(resolveRunConfig({}, file, { EDDY_WORKERS: '0' }).workers, 0);
  });

  it('every key has its variable; the flag and variable names follow the key', () => {
    assert.equal(flagOf('dataDir'), 'data-dir');
    assert.equal(envOf('dataDir'), 'EDDY_DATA_DIR');
    assert.equal(envOf('kafkaTlsInsecure'), 'EDDY_KAFKA_TLS_INSECURE');
    assert.deepEqual(RUN_ENV_VARS, Object.keys(RUN_KEYS).map(envOf));
    // secrets have no flag (it would show in ps)
    assert.equal('kafka-password' in RUN_FLAG_OPTIONS, false);
    assert.equal('kafka-token' in RUN_FLAG_OPTIONS, false);
  });

  it('combinations: kafka without brokers, kafka-only keys on the embedded log, TLS and SASL halves', (t) => {
    assert.match(
      problemsOf(() => resolveRunConfig({ backend: 'kafka' }, undefined, {})).join('\n'),
      /^brokers: the kafka backend needs brokers/,
    );
    assert.match(
      problemsOf(() => resolveRunConfig({ standbys: '1' }, undefined, { EDDY_KAFKA_CA: '/ca.pem' })).join(
        '\n',
      ),
      /^standbys \(--standbys\), kafkaCa \(\$EDDY_KAFKA_CA\): need backend kafka/,
    );
    const dir = tempDir(t);
    const notPem = join(dir, 'key.txt');
    writeFileSync(notPem, 'not a key');
    const kafka = { backend: 'kafka', brokers: 'h:1' };
    const tls = problemsOf(() =>
      resolveRunConfig(
        { ...kafka, 'kafka-key': notPem, 'kafka-ca': join(dir, 'missing.pem') },
        undefined,
        {},
      ),
    );
    assert.deepEqual(tls, [
      `kafkaCa (--kafka-ca): cannot read ${join(dir, 'missing.pem')} (ENOENT)`,
      `kafkaKey (--kafka-key): ${notPem} is not PEM (no "-----BEGIN" line); convert it, e.g. openssl x509 -outform pem`,
      'kafkaCert (--kafka-cert): a private key needs its client certificate (kafkaCert (--kafka-cert))',
    ]);
    const sasl = problemsOf(() =>
      resolveRunConfig({ ...kafka, 'kafka-sasl': 'SCRAM-SHA-256', 'kafka-token-file': '/t' }, undefined, {}),
    ).join('\n');
    assert.match(sasl, /kafkaTokenFile \(--kafka-token-file\): only OAUTHBEARER takes a token/);
    assert.match(sasl, /kafkaUsername \(--kafka-username\): SCRAM-SHA-256 needs a username/);
    assert.match(sasl, /kafkaPassword \(\$EDDY_KAFKA_PASSWORD\): SCRAM-SHA-256 needs a password/);
  });

  it('never shows a secret: a password in the file is refused without echoing it', (t) => {
    const file = configFile(t, {
      backend: 'kafka',
      brokers: ['h:1'],
      kafkaPassword: 'hunter2',
      kafkaToken: 42,
    });
    const problems = problemsOf(() => resolveRunConfig({}, file, {}));
    assert.match(
      problems.join('\n'),
      /kafkaPassword \(in .*\): not accepted in a config file .*use kafkaPasswordFile or \$EDDY_KAFKA_PASSWORD/,
    );
    assert.doesNotMatch(problems.join('\n'), /hunter2|42/);
    // from the environment it is used, and never part of the printed config
    const c = resolveRunConfig(
      { 'kafka-sasl': 'PLAIN', 'kafka-username': 'u', backend: 'kafka', brokers: 'h:1' },
      undefined,
      {
        EDDY_KAFKA_PASSWORD: 'hunter2',
      },
    );
    assert.equal(c.kafkaPassword, 'hunter2');
  });

  it('a file that is not JSON, or not an object, is one clear error', (t) => {
    assert.match(
      problemsOf(() => resolveRunConfig({}, configFile(t, '{ nope'), {}))[0],
      /cannot read it as JSON/,
    );
    assert.match(
      problemsOf(() => resolveRunConfig({}, configFile(t, '[1]'), {}))[0],
      /expected a JSON object/,
    );
    // "$schema" is allowed (editors)
    assert.equal(
      resolveRunConfig({}, configFile(t, { $schema: './schema/eddy-config.schema.json', fsync: 'os' }), {})
        .fsync,
      'os',
    );
  });
});

describe('resolveKafkaSecurity (the shell commands on Kafka)', () => {
  it('reads the --kafka-* flags and EDDY_KAFKA_* variables, checked as eddy run checks them', (t) => {
    assert.deepEqual(Object.keys(KAFKA_SECURITY_FLAG_OPTIONS).sort(), [
      'kafka-ca',
      'kafka-cert',
      'kafka-key',
      'kafka-password-file',
      'kafka-sasl',
      'kafka-servername',
      'kafka-tls',
      'kafka-tls-insecure',
      'kafka-token-file',
      'kafka-username',
    ]);
    assert.deepEqual(resolveKafkaSecurity({}, {}), {});
    assert.deepEqual(
      resolveKafkaSecurity(
        { 'kafka-sasl': 'SCRAM-SHA-256', 'kafka-username': 'u' },
        { EDDY_KAFKA_PASSWORD: 'pw' },
      ).sasl,
      {
        mechanism: 'SCRAM-SHA-256',
        username: 'u',
        password: 'pw',
        passwordFile: undefined,
        token: undefined,
        tokenFile: undefined,
      },
    );
    // ignores what is not its own (other flags, EDDY_DATA_DIR, ...)
    assert.deepEqual(
      resolveKafkaSecurity({ 'data-dir': 'x', workers: 'nope' }, { EDDY_WORKERS: 'nope' }),
      {},
    );
    const dir = tempDir(t);
    assert.deepEqual(
      problemsOf(() =>
        resolveKafkaSecurity({ 'kafka-sasl': 'PLAIN' }, { EDDY_KAFKA_CA: join(dir, 'none.pem') }),
      ),
      [
        `kafkaCa ($EDDY_KAFKA_CA): cannot read ${join(dir, 'none.pem')} (ENOENT)`,
        'kafkaUsername (--kafka-username): PLAIN needs a username',
        'kafkaPassword ($EDDY_KAFKA_PASSWORD): PLAIN needs a password (kafkaPassword ($EDDY_KAFKA_PASSWORD) or kafkaPasswordFile (--kafka-password-file))',
      ],
    );
  });
});

describe('schema/eddy-config.schema.json', () => {
  it('is the schema the code validates with (regenerate with npm run schema)', () => {
    const committed = readFileSync(new URL('../../schema/eddy-config.schema.json', import.meta.url), 'utf8');
    assert.equal(
      committed,
      `${JSON.stringify(runConfigJsonSchema(), null, 2)}\n`,
      'stale: run npm run schema',
    );
  });
});
