/* SPDX-License-Identifier: MIT */
/* A project's own spelling of the tag: main.c, which uses it, never names
 * the plugin, so only the attribute handler can tell that it has a service. */
#ifndef REMOTE_H
#define REMOTE_H
#define REMOTE_LOCAL __attribute__((turbolift("local")))
#endif
