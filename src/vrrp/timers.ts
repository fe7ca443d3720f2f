// The RFC timer formulas, in integer microseconds (see types.ts for why).
//
// RFC 5798 (v3) section 6.1:
//   Skew_Time            = ((256 - Priority) * Master_Adver_Interval) / 256
//   Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_Time
// RFC 3768 (v2) section 6.1:
//   Skew_Time            = (256 - Priority) / 256   (seconds, whatever the advert interval)
//   Master_Down_Interval = (3 * Advertisement_Interval) + Skew_Time
// Division truncates to whole microseconds, as keepalived does.

import { MICROS_PER_CENTISECOND, MICROS_PER_SECOND, type Micros, type VrrpVersion } from './types.ts';

export function skewTime(version: VrrpVersion, priority: number, masterAdverIntervalCs: number): Micros {
  const span = version === 3 ? masterAdverIntervalCs * MICROS_PER_CENTISECOND : MICROS_PER_SECOND;
  return Math.floor(((256 - priority) * span) / 256);
}

export function masterDownInterval(
  version: VrrpVersion,
  priority: number,
  masterAdverIntervalCs: number,
): Micros {
  return 3 * masterAdverIntervalCs * MICROS_PER_CENTISECOND + skewTime(version, priority, masterAdverIntervalCs);
}

export function centisToMicros(cs: number): Micros {
  return cs * MICROS_PER_CENTISECOND;
}
