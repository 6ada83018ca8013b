package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts. Each touches only the keys it is given (all of one
// region, so one Cluster slot) and runs atomically.

// scriptCreateRide: KEYS[1] ride, KEYS[2] idempotency key (optional).
// ARGV: data, idempotency TTL ms, ride id, version ok (1/0).
// Returns {1} created, {0, id} replay of the key, {-1} id taken,
// {-2} version not 0.
var scriptCreateRide = goredis.NewScript(`
if KEYS[2] then
  local id = redis.call('GET', KEYS[2])
  if id then return {0, id} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
if ARGV[4] ~= '1' then return {-2} end
redis.call('HSET', KEYS[1], 'v', 1, 'data', ARGV[1])
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) end
return {1}
`)

// scriptCAS: KEYS[1] record. ARGV: expected version, data, create
// allowed, TTL ms (0: none, the record persists).
// Returns {1, new} stored, {-1, 0} not found, {-2, stored} conflict.
var scriptCAS = goredis.NewScript(`
local exp = tonumber(ARGV[1])
local cur = redis.call('HGET', KEYS[1], 'v')
if not cur then
  if exp ~= 0 or ARGV[3] ~= '1' then return {-1, 0} end
elseif tonumber(cur) ~= exp then
  return {-2, tonumber(cur)}
end
redis.call('HSET', KEYS[1], 'v', exp + 1, 'data', ARGV[2])
if tonumber(ARGV[4]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  redis.call('PERSIST', KEYS[1])
end
return {1, exp + 1}
`)

// scriptDue: KEYS[1] timers. ARGV: now ms, now+lease ms, limit.
// Claims up to limit keys due at now by re-scoring them to now+lease.
var scriptDue = goredis.NewScript(`
local ks = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, k in ipairs(ks) do redis.call('ZADD', KEYS[1], ARGV[2], k) end
return ks
`)

// scriptMirror: KEYS geo, seen, pos. ARGV: (id, raw, seen, geoLon,
// geoLat)*, raw being "lat,lon,seen" with the exact coordinates and geoLon,
// geoLat those for the GEO set (see geoLat in mirror.go). Stores each fix,
// unless a newer one (by seen) is stored already, in the GEO set, the
// last-seen set and the raw-coordinates hash together. Returns how many
// fixes landed.
var scriptMirror = goredis.NewScript(`
local n = #ARGV / 5
local ids = {}
for i = 1, n do ids[i] = ARGV[5*i-4] end
local cur = redis.call('ZMSCORE', KEYS[2], unpack(ids))
local g, z, h = {}, {}, {}
for i = 1, n do
  local b = 5*i-4
  local c = cur[i]
  if (not c) or tonumber(c) <= tonumber(ARGV[b+2]) then
    local id = ARGV[b]
    g[#g+1] = ARGV[b+3]; g[#g+1] = ARGV[b+4]; g[#g+1] = id
    z[#z+1] = ARGV[b+2]; z[#z+1] = id
    h[#h+1] = id; h[#h+1] = ARGV[b+1]
  end
end
if #z > 0 then
  redis.call('GEOADD', KEYS[1], unpack(g))
  redis.call('ZADD', KEYS[2], unpack(z))
  redis.call('HSET', KEYS[3], unpack(h))
end
return #z / 2
`)

// scriptSweep: KEYS geo, seen, pos. ARGV: before ms, limit.
// Removes up to limit members last seen before ARGV[1] from all three keys
// and returns them.
var scriptSweep = goredis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
  redis.call('HDEL', KEYS[3], unpack(ids))
end
return ids
`)

// scriptRemove: KEYS geo, seen, pos. ARGV: id.
var scriptRemove = goredis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`)

// scriptNearest: KEYS geo, pos, avail. ARGV: lon, lat, radius m, count
// (0 = all), then extra ids to look up.
// Returns {n, lastDist, {id, raw}*, {avail, raw}*}: n is how many members
// GEOSEARCH returned and lastDist the distance (Redis's) of the last one;
// the first list holds those that are available, with their raw
// "lat,lon,seen"; the second answers the extra ids in order (avail 1/0,
// raw or false). Lookups go in batches (SMISMEMBER, HMGET) of at most
// 1000 ids, under Lua's unpack limit.
var scriptNearest = goredis.NewScript(`
local res
if tonumber(ARGV[4]) > 0 then
  res = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', ARGV[4], 'WITHDIST')
else
  res = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm', 'ASC', 'WITHDIST')
end
local n = #res
local last = '0'
if n > 0 then last = res[n][2] end
local out = {}
for i = 1, n, 1000 do
  local j = math.min(i + 999, n)
  local ids = {}
  for x = i, j do ids[#ids+1] = res[x][1] end
  local av = redis.call('SMISMEMBER', KEYS[3], unpack(ids))
  local a = {}
  for x = 1, #ids do if av[x] == 1 then a[#a+1] = ids[x] end end
  if #a > 0 then
    local raws = redis.call('HMGET', KEYS[2], unpack(a))
    for x = 1, #a do
      if raws[x] then out[#out+1] = a[x]; out[#out+1] = raws[x] end
    end
  end
end
local ext = {}
for i = 5, #ARGV, 1000 do
  local j = math.min(i + 999, #ARGV)
  local av = redis.call('SMISMEMBER', KEYS[3], unpack(ARGV, i, j))
  local raws = redis.call('HMGET', KEYS[2], unpack(ARGV, i, j))
  for x = 1, j - i + 1 do
    ext[#ext+1] = av[x]; ext[#ext+1] = raws[x]
  end
end
return {n, last, out, ext}
`)
