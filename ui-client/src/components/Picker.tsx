import { useRef, useState } from "preact/hooks";
import { moveSelection } from "../lib/card";

export interface PickerProps<T> {
  id: string;
  label: string;
  placeholder: string;
  /** The label of the chosen item, shown while not typing. */
  chosen: string;
  items: T[];
  render: (item: T) => preact.ComponentChildren;
  onQuery: (q: string) => void;
  onPick: (item: T) => void;
  error?: string;
  autoFocus?: boolean;
}

/** A text field with a keyboard-driven suggestion list (↑ ↓ Enter Esc). */
export function Picker<T>(p: PickerProps<T>) {
  const [text, setText] = useState("");
  const [typing, setTyping] = useState(false);
  const [index, setIndex] = useState(-1);
  const input = useRef<HTMLInputElement>(null);
  const open = typing && p.items.length > 0;

  const pick = (item: T) => {
    p.onPick(item);
    setTyping(false);
    setText("");
    setIndex(-1);
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      setTyping(true);
      setIndex(moveSelection(index, p.items.length, e.key));
    } else if (e.key === "Enter" && open) {
      e.preventDefault();
      pick(p.items[Math.max(index, 0)]);
    } else if (e.key === "Escape" && open) {
      e.stopPropagation();
      setTyping(false);
    }
  };

  return (
    <div class={"field picker" + (p.error ? " invalid" : "")}>
      <label for={p.id}>{p.label}</label>
      <input
        id={p.id}
        ref={input}
        autoComplete="off"
        role="combobox"
        aria-expanded={open}
        aria-controls={p.id + "-list"}
        placeholder={p.chosen || p.placeholder}
        value={typing ? text : p.chosen}
        autoFocus={p.autoFocus}
        onFocus={(e) => (e.target as HTMLInputElement).select()}
        onInput={(e) => {
          const v = (e.target as HTMLInputElement).value;
          setText(v);
          setTyping(true);
          setIndex(0);
          p.onQuery(v);
        }}
        onKeyDown={onKey}
        onBlur={() => setTimeout(() => setTyping(false), 150)}
      />
      {open && (
        <ul class="suggestions" id={p.id + "-list"} role="listbox">
          {p.items.map((item, i) => (
            <li
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
      )}
      {p.error && <span class="error">{p.error}</span>}
    </div>
  );
}
