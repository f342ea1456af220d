import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, redactUrlPassword } from '../../server/src/config.js'

describe('loadConfig', () => {
  it('fills documented defaults from an empty environment', () => {
    const config = loadConfig({})
    expect(config.host).toBe('0.0.0.0')
    expect(config.port).toBe(4321)
    expect(config.dataDir).toBe('./data')
    expect(config.store).toEqual({ kind: 'sqlite', path: './data/tandem.db' })
    expect(config.ws.maxMessageBytes).toBe(33 * 1024 * 1024)
    expect(config.rooms.maxDocBytes).toBe(32 * 1024 * 1024)
    expect(config.rooms.maxPendingBytes).toBe(2 * 1024 * 1024)
    expect(config.rooms.idleUnloadMs).toBe(30_000)
    expect(config.rooms.keepaliveMs).toBe(15_000)
    expect(config.rooms.compactAfterRows).toBe(2_000)
    expect(config.rooms.compactQuietMs).toBe(2_000)
    expect(config.auth.allowAnonymous).toBe(false)
    expect(config.shutdownTimeoutMs).toBe(20_000)
  })

  it('is frozen all the way down', () => {
    const config = loadConfig({})
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.ws)).toBe(true)
    expect(Object.isFrozen(config.auth)).toBe(true)
  })

  it('lets CLI flags override the environment', () => {
    const config = loadConfig({ TANDEM_PORT: '9000', TANDEM_DATA_DIR: '/env' }, { port: '0', dataDir: '/flag' })
    expect(config.port).toBe(0)
    expect(config.dataDir).toBe('/flag')
    expect(config.store).toEqual({ kind: 'sqlite', path: '/flag/tandem.db' })
  })

  it.each([
    ['TANDEM_PORT', 'abc'],
    ['TANDEM_PORT', '70000'],
    ['TANDEM_PORT', '-1'],
    ['TANDEM_PORT', '1.5'],
    ['TANDEM_MAX_MESSAGE_BYTES', '10'],
    ['TANDEM_ALLOW_ANONYMOUS', 'maybe'],
    ['TANDEM_LOG_LEVEL', 'loud'],
    ['TANDEM_STORE', 'mysql'],
    ['TANDEM_JWKS_URL', 'not a url'],
    ['TANDEM_JWKS_URL', 'ftp://example.com/jwks'],
    ['TANDEM_JWT_SECRET', 'short'],
    ['TANDEM_ROOM_IDLE_MS', '1e3'],
    ['TANDEM_KEEPALIVE_MS', '30000'], // y-websocket clients would have given up by then
    ['TANDEM_KEEPALIVE_MS', '0'],
    ['TANDEM_COMPACT_QUIET_MS', '-1'],
  ])('rejects %s=%s with an error naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrowError(ConfigError)
    expect(() => loadConfig({ [name]: value })).toThrowError(new RegExp(`^${name}:`))
  })

  it('refuses more than one JWT key setting', () => {
    expect(() =>
      loadConfig({ TANDEM_JWT_SECRET: 'x'.repeat(32), TANDEM_JWKS_URL: 'https://issuer.example/jwks' }),
    ).toThrowError(/only one of/)
  })

  it('reads booleans and the memory store', () => {
    const config = loadConfig({ TANDEM_ALLOW_ANONYMOUS: 'TRUE', TANDEM_STORE: 'memory', TANDEM_LOG_LEVEL: 'warn' })
    expect(config.auth.allowAnonymous).toBe(true)
    expect(config.store).toEqual({ kind: 'memory' })
    expect(config.logLevel).toBe('warn')
  })

  it('treats blank values as unset', () => {
    expect(loadConfig({ TANDEM_PORT: '  ', TANDEM_JWT_SECRET: '' }).port).toBe(4321)
  })

  it('keeps backpressure above a whole message', () => {
    const config = loadConfig({ TANDEM_MAX_MESSAGE_BYTES: String(64 * 1024 * 1024) })
    expect(config.ws.maxBackpressureBytes).toBeGreaterThanOrEqual(2 * config.ws.maxMessageBytes)
  })

  it('reads origin lists for CORS and WebSocket upgrades, normalised; refuses what is not an origin', () => {
    const base = { TANDEM_JWT_SECRET: 'x'.repeat(32) }
    const cfg = loadConfig({ ...base, TANDEM_CORS_ORIGINS: 'https://App.Example.com, http://localhost:5173/', TANDEM_ALLOWED_ORIGINS: '*' })
    expect(cfg.http.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173'])
    expect(cfg.connections.allowedOrigins).toEqual(['*'])
    const defaults = loadConfig(base)
    expect(defaults.http.corsOrigins).toEqual([])
    expect(defaults.connections.allowedOrigins).toBeNull()
    for (const bad of ['app.example.com', 'https://app.example.com/path', 'ftp://x.example', 'https://a.example?q=1']) {
      expect(() => loadConfig({ ...base, TANDEM_CORS_ORIGINS: bad })).toThrow(ConfigError)
      expect(() => loadConfig({ ...base, TANDEM_ALLOWED_ORIGINS: bad })).toThrow(/TANDEM_ALLOWED_ORIGINS/)
    }
  })
})

describe('cluster settings', () => {
  const DB = 'postgres://tandem:hunter2@127.0.0.1:5432/tandem'

  it('runs alone by default, with a generated instance id and the tandem: prefix', () => {
    const config = loadConfig({})
    expect(config.cluster).toBeNull()
    expect(config.instanceId).toBeNull()
  })

  it('TANDEM_REDIS_URL with TANDEM_DATABASE_URL makes a cluster member', () => {
    const config = loadConfig({ TANDEM_REDIS_URL: 'redis://:pw@127.0.0.1:6379/2', TANDEM_DATABASE_URL: DB, TANDEM_INSTANCE_ID: 'eu-1', TANDEM_REDIS_PREFIX: 'app1:' })
    expect(config.cluster).toEqual({ redisUrl: 'redis://:pw@127.0.0.1:6379/2', redisPrefix: 'app1:' })
    expect(config.instanceId).toBe('eu-1')
    expect(loadConfig({ TANDEM_REDIS_URL: 'rediss://h:6380', TANDEM_DATABASE_URL: DB }).cluster?.redisPrefix).toBe('tandem:')
  })

  it('--redis-url overrides the environment', () => {
    const config = loadConfig({ TANDEM_REDIS_URL: 'redis://env:6379', TANDEM_DATABASE_URL: DB }, { redisUrl: 'redis://flag:6379' })
    expect(config.cluster?.redisUrl).toBe('redis://flag:6379')
  })

  it('Redis without a database URL refuses to start, naming the setting, with one line and no password', () => {
    let error: unknown
    try {
      loadConfig({ TANDEM_REDIS_URL: 'redis://:secretpw@127.0.0.1:6379' })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).variable).toBe('TANDEM_REDIS_URL')
    expect((error as ConfigError).message).toMatch(/TANDEM_DATABASE_URL/)
    expect((error as ConfigError).message).not.toMatch(/secretpw|\n/)
  })

  it.each([
    ['TANDEM_REDIS_URL', 'http://127.0.0.1:6379'],
    ['TANDEM_REDIS_URL', 'not a url'],
    ['TANDEM_REDIS_PREFIX', 'has{brace}'],
    ['TANDEM_REDIS_PREFIX', 'has space'],
    ['TANDEM_INSTANCE_ID', 'a/b'],
    ['TANDEM_INSTANCE_ID', 'x'.repeat(65)],
  ])('rejects %s=%j with a ConfigError naming it', (name, value) => {
    const env = { TANDEM_REDIS_URL: 'redis://127.0.0.1:6379', TANDEM_DATABASE_URL: DB, [name]: value }
    expect(() => loadConfig(env)).toThrow(ConfigError)
    try {
      loadConfig(env)
    } catch (err) {
      expect((err as ConfigError).variable).toBe(name)
    }
  })

  it('redactUrlPassword hides the password and keeps the rest', () => {
    expect(redactUrlPassword('redis://user:hunter2@h:6379/1')).toBe('redis://user:***@h:6379/1')
    expect(redactUrlPassword('redis://h:6379')).toBe('redis://h:6379')
  })
})
