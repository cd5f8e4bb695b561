/* SPDX-License-Identifier: MIT */
/*
 * A user's program that does its work through Lua 5.4 (Debian's source
 * package, fetched at test time; docs/libraries.md): the tagged function
 * runs a Lua chunk in a new state with the standard libraries and returns
 * what the chunk returned, as text. The interpreter's 32 files are other
 * files of the program, in a static archive (liblua.a). With the argument
 * "threads", four threads call it at once.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <turbolift.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

struct outcome {
	int status;       /* LUA_OK, or the error of load/pcall */
	int results;      /* values the chunk returned */
	char text[1024];  /* those values, tostring'ed, one per line; or the error */
};

TURBOLIFT("local") struct outcome run(const char *chunk, const char *name)
{
	struct outcome o;
	lua_State *L = luaL_newstate();
	size_t used = 0;

	memset(&o, 0, sizeof o);
	if (!L) {
		o.status = -1;
		snprintf(o.text, sizeof o.text, "no memory for a Lua state");
		return o;
	}
	luaL_openlibs(L);
	o.status = luaL_loadbuffer(L, chunk, strlen(chunk), name);
	if (o.status == LUA_OK)
		o.status = lua_pcall(L, 0, LUA_MULTRET, 0);
	o.results = o.status == LUA_OK ? lua_gettop(L) : 0;
	for (int i = 1; i <= lua_gettop(L) && used < sizeof o.text; i++) {
		const char *s = luaL_tolstring(L, i, NULL);
		int n = snprintf(o.text + used, sizeof o.text - used, "%s\n", s);

		lua_pop(L, 1);
		used += n > 0 ? (size_t)n : 0;
	}
	lua_close(L);
	return o;
}

/* What a script does: closures, coroutines, string patterns, tables,
 * sorting with a comparator, integer and float arithmetic, string.format,
 * utf8, a runtime error caught by pcall, and a syntax error. */
static const char *const chunks[][2] = {
	{"fib", "local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end\n"
	        "local t = {} for i = 1, 25 do t[#t+1] = fib(i) end\n"
	        "return table.concat(t, ','), fib(27), 2^53 + 1, 7 // 2, 7 / 2, math.maxinteger"},
	{"words", "local s = 'the quick brown fox jumps over the lazy dog the end'\n"
	          "local count = {} for w in s:gmatch('%a+') do count[w] = (count[w] or 0) + 1 end\n"
	          "local keys = {} for k in pairs(count) do keys[#keys+1] = k end\n"
	          "table.sort(keys, function(a, b) if count[a] ~= count[b] then return count[a] > count[b] end return a < b end)\n"
	          "local out = {} for _, k in ipairs(keys) do out[#out+1] = k .. '=' .. count[k] end\n"
	          "return table.concat(out, ' '), s:gsub('o', '0'), string.format('%5.2f|%-6s|%x|%q', math.pi, 'ab', 255, 'a\\nb')"},
	{"coroutines", "local gen = coroutine.wrap(function() for i = 1, 5 do coroutine.yield(i * i) end end)\n"
	               "local acc = {} for _ = 1, 5 do acc[#acc+1] = gen() end\n"
	               "local mt = setmetatable({}, {__index = function(t, k) return k * 10 end})\n"
	               "return table.concat(acc, ' '), mt[4], utf8.char(233, 0x4e2d), utf8.len('\\u{e9}t\\u{e9}'), select('#', 1, nil, 3)"},
	{"errors", "local ok, err = pcall(function() local t = nil; return t.x end)\n"
	           "local ok2, err2 = pcall(error, {code = 42})\n"
	           "return ok, err, ok2, type(err2), err2.code, tostring(nil), tonumber('0x10'), tonumber('1e2')"},
	{"syntax", "return 1 +"},
};

/* "threads": the chunks again from TL_THREADS threads at once, TL_ROUNDS
 * calls each (calls in flight together fan out over the workers); the
 * results are printed afterwards in a fixed order. */
#define TL_THREADS 4
#define TL_ROUNDS 12
static struct outcome results[TL_THREADS][TL_ROUNDS];

static void *caller(void *arg)
{
	size_t t = (size_t)(uintptr_t)arg, n = sizeof chunks / sizeof chunks[0];

	for (size_t r = 0; r < TL_ROUNDS; r++)
		results[t][r] = run(chunks[(t + r) % n][1], chunks[(t + r) % n][0]);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "threads") == 0) {
		pthread_t th[TL_THREADS];

		for (size_t t = 0; t < TL_THREADS; t++)
			if (pthread_create(&th[t], NULL, caller, (void *)(uintptr_t)t) != 0)
				return 1;
		for (size_t t = 0; t < TL_THREADS; t++)
			pthread_join(th[t], NULL);
		for (size_t t = 0; t < TL_THREADS; t++)
			for (size_t r = 0; r < TL_ROUNDS; r++)
				printf("-- thread %zu call %zu: status %d, %d results\n%s", t, r,
				       results[t][r].status, results[t][r].results, results[t][r].text);
		return 0;
	}
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		struct outcome o = run(chunks[i][1], chunks[i][0]);

		printf("== %s: status %d, %d results\n%s", chunks[i][0], o.status, o.results, o.text);
	}
	return 0;
}
