/* Hold arithmetic of a sale with holds (PROTOCOL.md revision 2): pure, no EAL, no state. */
#ifndef FS_HOLD_H
#define FS_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#define FS_HOLD_MAX_MS 604800000u /**< longest hold time: 7 days, in ms */
/** SOLD_OUT's retry_after_ms while holds are open: at least this (ms), unless hold_ms is less */
#define FS_HOLD_RETRY_MIN_MS 500u
/** won_ms value of a released order (winners.h); a won order's won_ms is always below it */
#define FS_WON_RELEASED UINT32_MAX

/**
 * When an order is won, as stored in the winner table: ms since the sale's start, clamped to
 * [0, FS_WON_RELEASED - 1] (a claim before the start is never won; a sale past 49 days
 * saturates and its holds then look a little longer than they are). Pure.
 */
static inline uint32_t fs_hold_won_ms(int64_t now_ms, int64_t start_ms)
{
	int64_t d = now_ms - start_ms;

	if (d < 0)
		return 0;
	return d >= (int64_t)FS_WON_RELEASED ? FS_WON_RELEASED - 1 : (uint32_t)d;
}

/**
 * hold_left_ms of an ALREADY_WON: ms from @p now_ms until start_ms + won_ms + hold_ms (when the
 * hold runs out if unpaid), 0 from that instant on, saturated to UINT32_MAX. Pure.
 */
static inline uint32_t fs_hold_left_ms(
	int64_t start_ms, uint32_t won_ms, uint32_t hold_ms, int64_t now_ms)
{
	int64_t d = start_ms + (int64_t)won_ms + (int64_t)hold_ms - now_ms;

	if (d <= 0)
		return 0;
	return d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/**
 * SOLD_OUT's (and SALE_STATUS's) retry_after_ms on a sale: 0 (final) when the sale has no holds
 * (@p hold_ms 0) or the control plane says none can come back (@p open false); else the ms until
 * @p next_ms (unix ms of the earliest hold that runs out; 0: unknown) but at least
 * FS_HOLD_RETRY_MIN_MS (FS_HOLD_RETRY_MIN_MS when @p next_ms is 0), at most @p hold_ms: > 0.
 * Pure.
 */
static inline uint32_t fs_hold_retry_ms(uint32_t hold_ms, bool open, int64_t next_ms, int64_t now_ms)
{
	int64_t r = FS_HOLD_RETRY_MIN_MS;

	if (hold_ms == 0 || !open)
		return 0;
	if (next_ms != 0 && next_ms - now_ms > r)
		r = next_ms - now_ms;
	return r > (int64_t)hold_ms ? hold_ms : (uint32_t)r;
}

#endif
