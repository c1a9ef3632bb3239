--[[
  Adds, refreshes and removes entries of one presence set (a room, or the online-users index) and
  optionally reads it. Entries are scored by their expiry on the Redis clock, so instances with
  skewed clocks agree on what is live, and a crashed instance's entries lapse by themselves.
  KEYS[1] the presence set
  ARGV[1] ttl ms: added entries expire this long after now (Redis TIME)
  ARGV[2] '1' to reply with the live members, '0' for the count only
  ARGV[3] n, the number of members to add or refresh
  ARGV[4 .. 3+n] members to add or refresh; ARGV[4+n ..] members to remove
  Returns { liveCount } or { liveCount, member... } (members sorted bytewise).
]]
--- @include "presence-apply"
return reply
