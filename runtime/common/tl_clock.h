/* SPDX-License-Identifier: MIT */
/*
 * tl_clock.h - deadlines in milliseconds on the monotonic clock.
 *
 * Every wait in the runtime is bounded by a deadline computed from
 * tl_now_ms(); wall-clock time would jump with NTP or a user's date change.
 */
#ifndef TL_CLOCK_H
#define TL_CLOCK_H

long tl_now_ms(void);
/* Sleep ms milliseconds (not less, even when signals interrupt). */
void tl_wait_ms(long ms);

#endif /* TL_CLOCK_H */
