import { useEffect, useRef, useState } from "preact/hooks";
import { moveSelection } from "../lib/card";

export interface PickerProps<T> {
  id: string;
  label: string;
  placeholder: string;
  /** The label of the chosen item; empty while nothing is chosen. */
  chosen: string;
  /** The label an item shows in the field once chosen. */
  labelOf: (item: T) => string;
  items: T[];
  render: (item: T) => preact.ComponentChildren;
  onQuery: (q: string) => void;
  onPick: (item: T) => void;
  /** The chosen item no longer holds: the text was changed over it. */
  onClear: () => void;
  /** Shown in the list when a query found nothing. */
  empty: string;
  /** True once the last query has been answered (so "nothing found" is not shown while waiting). */
  answered: boolean;
  error?: string;
  inputRef?: preact.RefObject<HTMLInputElement>;
}

/**
 * A WAI-ARIA combobox: type to search, ↑ ↓ to move, Enter to choose, Esc to
 * close. Typing over a chosen item un-chooses it (it never silently reverts),
 * and leaving the field keeps what was typed.
 */
export function Picker<T>(p: PickerProps<T>) {
  const [text, setText] = useState(p.chosen);
  const [open, setOpen] = useState(false);
  const [index, setIndex] = useState(-1);
  const own = useRef<HTMLInputElement>(null);
  const input = p.inputRef ?? own;
  const listId = p.id + "-list";
  const optionId = (i: number) => `${p.id}-option-${i}`;

  // A choice made elsewhere (a reset, a screen pop) shows its label.
  useEffect(() => {
    if (p.chosen) setText(p.chosen);
  }, [p.chosen]);

  const pick = (item: T) => {
    // The field shows the choice at once, not a frame later when the parent re-renders.
    setText(p.labelOf(item));
    p.onPick(item);
    setOpen(false);
    setIndex(-1);
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      setOpen(true);
      setIndex(moveSelection(index, p.items.length, e.key));
    } else if (e.key === "Enter" && open && p.items.length > 0) {
      e.preventDefault();
      pick(p.items[Math.max(index, 0)]);
    } else if (e.key === "Escape" && open) {
      e.stopPropagation();
      setOpen(false);
    }
  };

  const showList = open && text.trim().length > 0;
  const nothing = showList && p.items.length === 0 && p.answered && text.trim().length >= 2;
  return (
    <div class={"field picker" + (p.error ? " invalid" : "")}>
      <label for={p.id} id={p.id + "-label"}>
        {p.label}
      </label>
      <input
        id={p.id}
        name={p.id}
        ref={input}
        autoComplete="off"
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={showList && p.items.length > 0}
        aria-controls={listId}
        aria-activedescendant={showList && index >= 0 && index < p.items.length ? optionId(index) : undefined}
        aria-invalid={!!p.error}
        aria-describedby={p.error ? p.id + "-error" : nothing ? p.id + "-empty" : undefined}
        placeholder={p.placeholder}
        value={text}
        onFocus={(e) => (e.target as HTMLInputElement).select()}
        onInput={(e) => {
          const v = (e.target as HTMLInputElement).value;
          setText(v);
          setOpen(true);
          setIndex(0);
          if (p.chosen) p.onClear();
          p.onQuery(v);
        }}
        onKeyDown={onKey}
        onBlur={() =>
          // Late enough for a click on an option to land; not when the field got the focus back meanwhile.
          setTimeout(() => document.activeElement !== input.current && setOpen(false), 150)
        }
      />
      <ul class="suggestions" id={listId} role="listbox" aria-labelledby={p.id + "-label"} hidden={!showList || p.items.length === 0}>
        {showList &&
          p.items.map((item, i) => (
            <li
              id={optionId(i)}
              role="option"
              aria-selected={i === index}
              class={i === index ? "selected" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(item);
              }}
            >
              {p.render(item)}
            </li>
          ))}
      </ul>
      {nothing && (
        <p class="suggestions empty-state" id={p.id + "-empty"} role="status" data-testid={p.id + "-empty"}>
          {p.empty}
        </p>
      )}
      {p.error && (
        <span class="error" id={p.id + "-error"}>
          {p.error}
        </span>
      )}
    </div>
  );
}
