// A progress bar for uploads and long jobs. `value` undefined = indeterminate.
export function Progress({ label, value, max = 1 }: { label: string; value?: number; max?: number }) {
  const pct = value === undefined ? undefined : Math.max(0, Math.min(100, (value / max) * 100));
  return (
    <div
      className={`progress${pct === undefined ? ' indeterminate' : ''}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={pct === undefined ? undefined : Math.round(pct)}
    >
      <div className="progress-bar" style={pct === undefined ? undefined : { width: `${pct}%` }} />
      <span className="progress-label">{label}{pct === undefined ? '' : ` — ${Math.round(pct)} %`}</span>
    </div>
  );
}
