import { useEffect, useState } from "preact/hooks";
import { formatLeft, urgency } from "../lib/time";

/** The current time, ticking every second while mounted. */
export function useNow(periodMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), periodMs);
    return () => clearInterval(id);
  }, [periodMs]);
  return now;
}

/** Time left to a deadline, coloured by urgency. */
export function Countdown(p: { registeredAt: string; deadline: string; finished: boolean; now: number; lang: "ru" | "en" }) {
  const u = urgency(p.registeredAt, p.deadline, p.now, p.finished);
  return (
    <span class={"countdown " + u} data-testid="countdown" title={p.deadline}>
      {p.finished ? "—" : formatLeft(Date.parse(p.deadline) - p.now, p.lang)}
    </span>
  );
}
