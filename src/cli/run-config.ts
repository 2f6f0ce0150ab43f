/**
 * Configuration of `eddy run` and `eddy demo`, from (lowest to highest precedence) the defaults, a
 * JSON config file (`--config FILE`), `EDDY_*` environment variables, and flags. One validator
 * reports every bad key at once, naming where it came from.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../util/errors.js';

export interface RunConfig {
  backend: 'embedded' | 'kafka';
  /** Kafka bootstrap servers, `host:port`. */
  brokers: string[];
  /** Local state: the embedded log (`<dataDir>/log`) and the stores (`<dataDir>/stores`). */
  dataDir: string;
  /** The embedded log's fsync policy. */
  fsync: 'always' | 'commit' | 'os';
}

export const RUN_DEFAULTS: RunConfig = {
  backend: 'embedded',
  brokers: [],
  dataDir: './eddy-data',
  fsync: 'commit',
};

const ENV: Record<string, keyof RunConfig> = {
  EDDY_BACKEND: 'backend',
  EDDY_BROKERS: 'brokers',
  EDDY_DATA_DIR: 'dataDir',
  EDDY_FSYNC: 'fsync',
};

type RawConfig = Partial<Record<keyof RunConfig, unknown>>;

function check(source: string, raw: Record<string, unknown>, problems: string[]): RawConfig {
  const out: RawConfig = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const at = `${key} (${source})`;
    switch (key) {
      case 'backend':
        if (value !== 'embedded' && value !== 'kafka')
          problems.push(`${at}: expected embedded or kafka, got ${JSON.stringify(value)}`);
        else out.backend = value;
        break;
      case 'fsync':
        if (value !== 'always' && value !== 'commit' && value !== 'os')
          problems.push(`${at}: expected always, commit or os`);
        else out.fsync = value;
        break;
      case 'dataDir':
        if (typeof value !== 'string' || value === '') problems.push(`${at}: expected a directory path`);
        else out.dataDir = value;
        break;
      case 'brokers': {
        const list =
          typeof value === 'string'
            ? value
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : value;
        if (!Array.isArray(list) || list.some((b) => typeof b !== 'string' || !/^[^:\s]+:\d+$/.test(b))) {
          problems.push(`${at}: expected host:port[,host:port…], got ${JSON.stringify(value)}`);
        } else out.brokers = list as string[];
        break;
      }
      default:
        problems.push(`${key} (${source}): unknown key (known: ${Object.keys(RUN_DEFAULTS).join(', ')})`);
    }
  }
  return out;
}

/** Merges and validates every source; throws one `ConfigError` listing every problem. */
export function resolveRunConfig(
  flags: Record<string, unknown>,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): RunConfig {
  const problems: string[] = [];
  let fromFile: RawConfig = {};
  if (configFile !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${configFile}`, [
        `cannot read it as JSON: ${(err as Error).message}`,
      ]);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      problems.push(`${configFile}: expected a JSON object`);
    } else fromFile = check(configFile, parsed as Record<string, unknown>, problems);
  }
  const envRaw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV))
    if (env[name] !== undefined && env[name] !== '') envRaw[key] = env[name];
  const fromEnv = check('environment', envRaw, problems);
  const fromFlags = check('flags', flags, problems);
  const config = { ...RUN_DEFAULTS, ...fromFile, ...fromEnv, ...fromFlags } as RunConfig;
  if (config.backend === 'kafka' && config.brokers.length === 0) {
    problems.push('brokers: the kafka backend needs --brokers host:port (or EDDY_BROKERS)');
  }
  if (problems.length > 0) throw new ConfigError('configuration', problems);
  return config;
}
