// Which workloads depend on which input. Kept current from workload watch
// events, so a Secret event finds its dependents by lookup: no LIST, no scan.

/** An input of one namespace: `secret/<ns>/<name>` or `spc/<ns>/<name>`. */
export type InputRef = string;

export function secretRef(namespace: string, name: string): InputRef {
  return `secret/${namespace}/${name}`;
}

export function classRef(namespace: string, name: string): InputRef {
  return `spc/${namespace}/${name}`;
}

export class DependencyIndex {
  private readonly dependents = new Map<InputRef, Set<string>>();
  private readonly inputsOf = new Map<string, InputRef[]>();

  /** Replaces what a workload depends on. */
  set(workload: string, inputs: InputRef[]): void {
    this.remove(workload);
    if (inputs.length === 0) return;
    this.inputsOf.set(workload, inputs);
    for (const i of inputs) {
      let set = this.dependents.get(i);
      if (!set) this.dependents.set(i, (set = new Set()));
      set.add(workload);
    }
  }

  remove(workload: string): void {
    for (const i of this.inputsOf.get(workload) ?? []) {
      const set = this.dependents.get(i);
      set?.delete(workload);
      if (set?.size === 0) this.dependents.delete(i);
    }
    this.inputsOf.delete(workload);
  }

  dependentsOf(input: InputRef): ReadonlySet<string> {
    return this.dependents.get(input) ?? EMPTY;
  }

  get size(): number {
    return this.inputsOf.size;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
