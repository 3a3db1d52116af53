#!/usr/bin/env python3
"""Turns redis_script.lua into a C++ header with its text and SHA-1 (the
name EVALSHA uses), so the module never needs a round trip to learn it."""
import hashlib
import sys

src, out = sys.argv[1], sys.argv[2]
text = open(src, 'rb').read().decode('utf-8')
sha = hashlib.sha1(text.encode('utf-8')).hexdigest()
assert ')lua"' not in text
with open(out, 'w') as f:
    f.write('// Generated from redis_script.lua by redis_script_gen.py.\n')
    f.write('#pragma once\n')
    f.write('namespace defender {\n')
    f.write('inline constexpr char kRedisScript[] = R"lua(%s)lua";\n' % text)
    f.write('inline constexpr char kRedisScriptSha1[] = "%s";\n' % sha)
    f.write('}  // namespace defender\n')
