import { pino, type Logger } from 'pino'
import type { LogLevel } from './config.js'

export type { Logger }

/** Paths pino blanks out wherever they appear: tokens and credentials never reach a log line. */
const REDACT = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'secret',
  '*.secret',
  'protocols',
  '*.protocols',
]

export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'tandem' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  })
}
