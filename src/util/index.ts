export * from './bytes.js';
export * from './crc32c.js';
export * from './errors.js';
export * from './murmur2.js';
