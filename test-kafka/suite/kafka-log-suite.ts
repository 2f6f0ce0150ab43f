// The log conformance suite on a real Kafka broker (one KRaft node started for this file). Run by
// kafka-log.test.ts in a child process, which checks that only the known Kafka differences fail.
import { openKafkaLog } from '../../src/log/index.js';
import { logSuite } from '../../test/log/log-suite.js';
import { startBroker } from '../helpers/broker.js';

const broker = startBroker();

logSuite({
  name: 'kafka',
  open: () =>
    openKafkaLog({
      brokers: broker.brokers,
      clientId: 'eddy-suite',
      transactionalId: `eddy-suite-${process.pid}`,
    }),
  supports: { truncate: false, transactions: true, persistent: true },
  settleMs: 20_000,
});
