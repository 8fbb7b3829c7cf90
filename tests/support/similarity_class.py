"""A generated class with known truth for the similarity report: styles, copies and planted mistakes.

Notebooks are built from the release notebook of gradient_checking: each solution cell's
`raise NotImplementedError()` is replaced by a body drawn from several genuinely different ways
to write that function, each with independent small choices (np.dot or @, a loop or a
comprehension, where the 2 goes), so that independently written students differ somewhere, as
real ones do. Copies are made from a student's code the way copiers disguise it: local variables
renamed, reformatted, comments and prints added, for loops rewritten as while loops, functions
moved into one cell in another order, or one function taken only.
"""
from __future__ import annotations

import ast
import csv
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from support import ROOT  # noqa: E402

ASSIGNMENT = "gradient_checking"
ORDER = '["W1", "b1", "W2", "b2", "W3", "b3"]'
GRAD_ORDER = '["dW1", "db1", "dW2", "db2", "dW3", "db3"]'


class Choices:
    """Draws one option per call and remembers which, so that a whole variant has an identity."""

    def __init__(self, rng: random.Random):
        self.rng, self.picked = rng, []

    def pick(self, *options: str) -> str:
        index = self.rng.randrange(len(options))
        self.picked.append(index)
        return options[index]


def _gradapprox(c: Choices, plus: str, minus: str, bug: bool) -> str:
    if bug:  # one-sided division: the classic planted mistake
        return f"({plus} - {minus}) / epsilon"
    return c.pick(f"({plus} - {minus}) / (2 * epsilon)", f"({plus} - {minus}) / 2 / epsilon",
                  f"0.5 * ({plus} - {minus}) / epsilon", f"({plus} - {minus}) / (epsilon + epsilon)")


def _difference(c: Choices) -> str:
    numerator = c.pick("numerator = np.linalg.norm(grad - gradapprox)",
                       "numerator = np.linalg.norm(gradapprox - grad)",
                       "numerator = np.sqrt(np.sum((grad - gradapprox) ** 2))")
    denominator = c.pick("denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)",
                         "denominator = np.sqrt(np.sum(grad ** 2)) + np.sqrt(np.sum(gradapprox ** 2))",
                         "denominator = np.linalg.norm(grad, ord=2) + np.linalg.norm(gradapprox, ord=2)")
    difference = c.pick("difference = numerator / denominator", "difference = np.divide(numerator, denominator)",
                        "difference = float(numerator / denominator)")
    return "\n".join([numerator, denominator, difference])


def forward_propagation(c: Choices, bug: bool) -> str:
    return c.pick("J = theta * x", "J = np.multiply(theta, x)", "J = np.dot(theta, x)")


def backward_propagation(c: Choices, bug: bool) -> str:
    return c.pick("dtheta = x", "dtheta = x * 1.0", "dtheta = np.copy(x)")


def gradient_check(c: Choices, bug: bool) -> str:
    if c.pick("steps", "inline") == "steps":
        head = ("theta_plus = theta + epsilon\ntheta_minus = theta - epsilon\n"
                + c.pick("J_plus = forward_propagation(x, theta_plus)\nJ_minus = forward_propagation(x, theta_minus)\n",
                         "J_minus = forward_propagation(x, theta_minus)\nJ_plus = forward_propagation(x, theta_plus)\n"))
    else:
        head = ("J_plus = forward_propagation(x, theta + epsilon)\n"
                "J_minus = forward_propagation(x, theta - epsilon)\n")
    grad = c.pick("grad = backward_propagation(x, theta)", "grad = backward_propagation(x=x, theta=theta)")
    return head + f"gradapprox = {_gradapprox(c, 'J_plus', 'J_minus', bug)}\n{grad}\n{_difference(c)}"


def dictionary_to_vector(c: Choices, bug: bool) -> str:
    order = c.pick(ORDER, ORDER.replace("[", "(").replace("]", ")"))
    style = c.pick("loop", "comprehension", "count")
    column = c.pick("np.reshape(parameters[key], (-1, 1))", "parameters[key].reshape(-1, 1)",
                    "parameters[key].reshape((parameters[key].size, 1))")
    if style == "loop":
        keys = c.pick("keys = keys + [key] * column.shape[0]", "keys.extend([key] * column.size)",
                      "keys += [key] * len(column)")
        join = c.pick("np.concatenate(columns, axis=0)", "np.vstack(columns)", "np.concatenate(columns)")
        return (f"keys = []\ncolumns = []\nfor key in {order}:\n    column = {column}\n    columns.append(column)\n"
                f"    {keys}\ntheta = {join}")
    if style == "comprehension":
        keys = c.pick(f"keys = [key for key in {order} for _ in range(parameters[key].size)]",
                      f"keys = sum(([key] * parameters[key].size for key in {order}), [])")
        return f"theta = np.concatenate([{column} for key in {order}], axis=0)\n{keys}"
    return (f"keys = []\ncount = 0\nfor key in {order}:\n    new_vector = {column}\n"
            f"    keys = keys + [key] * new_vector.shape[0]\n    if count == 0:\n        theta = new_vector\n"
            f"    else:\n        theta = np.concatenate((theta, new_vector), axis=0)\n    count = count + 1")


SHAPES = [("W1", 0, 20, (5, 4)), ("b1", 20, 25, (5, 1)), ("W2", 25, 40, (3, 5)), ("b2", 40, 43, (3, 1)),
          ("W3", 43, 46, (1, 3)), ("b3", 46, 47, (1, 1))]


def vector_to_dictionary(c: Choices, bug: bool) -> str:
    if c.pick("slices", "offsets") == "slices":
        form = c.pick("theta[{a}:{b}].reshape({s})", "np.reshape(theta[{a}:{b}], {s})", "theta[{a}:{b}, :].reshape({s})")
        lines = ["parameters = {}"] + [f'parameters["{k}"] = ' + form.format(a=a if a else "", b=b, s=s)
                                       for k, a, b, s in SHAPES]
        return "\n".join(lines)
    shapes = "[" + ", ".join(f'("{k}", {s})' for k, _, _, s in SHAPES) + "]"
    size = c.pick("size = shape[0] * shape[1]", "size = int(np.prod(shape))")
    step = c.pick("start = start + size", "start += size")
    return (f"parameters = {{}}\nstart = 0\nfor name, shape in {shapes}:\n    {size}\n"
            f"    parameters[name] = theta[start:start + size].reshape(shape)\n    {step}")


def gradients_to_vector(c: Choices, bug: bool) -> str:
    column = c.pick("np.reshape(gradients[key], (-1, 1))", "gradients[key].reshape(-1, 1)",
                    "gradients[key].flatten()[:, None]")
    style = c.pick("comprehension", "loop", "count")
    if style == "comprehension":
        join = c.pick("np.concatenate(columns, axis=0)", "np.vstack(columns)")
        return f"columns = [{column} for key in {GRAD_ORDER}]\ntheta = {join}"
    if style == "loop":
        return (f"columns = []\nfor key in {GRAD_ORDER}:\n    columns.append({column})\n"
                "theta = np.concatenate(columns, axis=0)")
    return (f"count = 0\nfor key in {GRAD_ORDER}:\n    new_vector = {column}\n    if count == 0:\n"
            "        theta = new_vector\n    else:\n        theta = np.concatenate((theta, new_vector), axis=0)\n"
            "    count = count + 1")


def forward_propagation_n(c: Choices, bug: bool) -> str:
    mm = c.pick("np.dot({}, {})", "{} @ {}", "np.matmul({}, {})")
    lines = [f"Z1 = {mm.format('W1', 'X')} + b1", "A1 = relu(Z1)", f"Z2 = {mm.format('W2', 'A1')} + b2",
             "A2 = relu(Z2)", f"Z3 = {mm.format('W3', 'A2')} + b3", "A3 = sigmoid(Z3)"]
    lines.append(c.pick("log_probs = np.multiply(-np.log(A3), Y) + np.multiply(-np.log(1 - A3), 1 - Y)",
                        "log_probs = -(Y * np.log(A3) + (1 - Y) * np.log(1 - A3))",
                        "log_probs = -Y * np.log(A3) - (1 - Y) * np.log(1 - A3)"))
    lines.append(c.pick("cost = 1.0 / m * np.sum(log_probs)", "cost = np.sum(log_probs) / m",
                        "cost = np.mean(log_probs)", "cost = float(np.squeeze(np.sum(log_probs) / m))"))
    return "\n".join(lines)


def backward_propagation_n(c: Choices, bug: bool) -> str:
    mm = c.pick("np.dot({}, {})", "{} @ {}")
    scale = c.pick("1.0 / m * {}", "{} / m", "np.divide({}, m)")
    bias = c.pick("np.sum({}, axis=1, keepdims=True)", "{}.sum(axis=1, keepdims=True)")
    relu_back = c.pick("np.multiply({d}, np.int64({a} > 0))", "{d} * ({a} > 0)", "np.where({a} > 0, {d}, 0)")
    lines = ["dZ3 = A3 - Y"]
    for layer, (a_prev, a_here, w_next) in {3: ("A2", None, None), 2: ("A1", "A2", "W3"), 1: ("X", "A1", "W2")}.items():
        if a_here:
            lines.append(f"dA{layer} = {mm.format(w_next + '.T', f'dZ{layer + 1}')}")
            lines.append(f"dZ{layer} = " + relu_back.format(d=f"dA{layer}", a=a_here))
        dw = scale.format(mm.format(f"dZ{layer}", a_prev + ".T"))
        if bug and layer == 2:
            dw = f"{dw} * 2"
        lines.append(f"dW{layer} = {dw}")
        lines.append(f"db{layer} = " + scale.format(bias.format(f"dZ{layer}")))
    return "\n".join(lines)


def gradient_check_n(c: Choices, bug: bool) -> str:
    header = c.pick("for i in range(num_parameters):", "for i in range(parameters_values.shape[0]):",
                    "for i in range(len(parameters_values)):")
    if c.pick("reference", "helper") == "reference":
        duplicate = c.pick("np.copy(parameters_values)", "parameters_values.copy()", "np.array(parameters_values)")
        shift = c.pick("{t}[i] = {t}[i] {op} epsilon", "{t}[i][0] = {t}[i][0] {op} epsilon",
                       "{t}[i, 0] = {t}[i, 0] {op} epsilon")
        cost = c.pick("J_{s}[i], _ = forward_propagation_n(X, Y, vector_to_dictionary(theta_{s}))",
                      "J_{s}[i] = forward_propagation_n(X, Y, vector_to_dictionary(theta_{s}))[0]")
        body = []
        for s, op in (("plus", "+"), ("minus", "-")):
            body += [f"theta_{s} = {duplicate}", shift.format(t=f"theta_{s}", op=op), cost.format(s=s)]
        body.append(f"gradapprox[i] = {_gradapprox(c, 'J_plus[i]', 'J_minus[i]', bug)}")
        loop = header + "\n" + "\n".join("    " + line for line in body)
        return loop + "\n" + _difference(c)
    helper = c.pick("def cost_at(theta):\n    return forward_propagation_n(X, Y, vector_to_dictionary(theta))[0]",
                    "def cost_at(theta):\n    cost, _ = forward_propagation_n(X, Y, vector_to_dictionary(theta))\n"
                    "    return cost")
    step = c.pick("step = np.zeros_like(parameters_values)", "step = np.zeros((num_parameters, 1))")
    body = [step, "step[i] = epsilon", "J_plus[i] = cost_at(parameters_values + step)",
            "J_minus[i] = cost_at(parameters_values - step)",
            f"gradapprox[i] = {_gradapprox(c, 'J_plus[i]', 'J_minus[i]', bug)}"]
    return helper + "\n" + header + "\n" + "\n".join("    " + line for line in body) + "\n" + _difference(c)


WRITERS = {f.__name__: f for f in (forward_propagation, backward_propagation, gradient_check, dictionary_to_vector,
                                    vector_to_dictionary, gradients_to_vector, forward_propagation_n,
                                    backward_propagation_n, gradient_check_n)}
PLACEHOLDER = re.compile(r"^( *)# YOUR CODE HERE\n\1raise NotImplementedError\(\)\n?", re.M)


def release_notebook() -> dict:
    return json.loads((ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))


def solution_cells(nb: dict) -> dict[str, dict]:
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("solution")}


def fill(cell_source: str, body: str) -> str:
    """The release cell with its placeholder replaced by body, indented as the placeholder was."""
    match = PLACEHOLDER.search(cell_source)
    indent = match.group(1)
    lines = "".join(indent + line + "\n" for line in body.splitlines())
    return cell_source[:match.start()] + lines + cell_source[match.end():]


@dataclass
class Student:
    """One generated notebook: its function cells' sources by exercise, and how it was made."""
    name: str
    sources: dict[str, str] = field(default_factory=dict)
    merged: list[str] | None = None  # a copier's one cell holding all functions, in this order
    failing: set[str] = field(default_factory=set)

    def notebook(self) -> dict:
        nb = release_notebook()
        cells = solution_cells(nb)
        for exercise, source in self.sources.items():
            if self.merged is None:
                cells[exercise]["source"] = source
        if self.merged is not None:
            merged = "\n\n".join(self.sources[e] for e in self.merged)
            nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                "id": "merged", "source": merged})
        return nb


def write_student(rng: random.Random, name: str, seen: dict[str, set], bugs: dict[str, bool] | None = None) -> Student:
    """An independently written student: every function drawn in a variant no earlier student drew."""
    cells = solution_cells(release_notebook())
    student = Student(name)
    for exercise, writer in WRITERS.items():
        bug = bool(bugs and bugs.get(exercise))
        for _ in range(200):
            choices = Choices(rng)
            body = writer(choices, bug)
            identity = (tuple(choices.picked), bug)
            if identity not in seen.setdefault(exercise, set()) or exercise in ("forward_propagation",
                                                                                 "backward_propagation"):
                break
        seen[exercise].add(identity)
        student.sources[exercise] = fill("".join(cells[exercise]["source"]), body)
        if bug:
            student.failing.add(exercise)
    return student


# --- how copiers disguise a notebook (AST transforms of the copied source) ---

class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        return node


def rename_locals(source: str, rng: random.Random) -> str:
    tree = ast.parse(source)
    names: dict[str, str] = {}
    for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        params = {a.arg for a in func.args.args}
        for node in ast.walk(func):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in params:
                names.setdefault(node.id, f"{rng.choice(['tmp', 'val', 'my', 'q', 'res'])}_{len(names)}")
    return ast.unparse(_Rename(names).visit(tree))


class _ForToWhile(ast.NodeTransformer):
    def visit_For(self, node):
        self.generic_visit(node)
        it = node.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
                and len(it.args) == 1 and isinstance(node.target, ast.Name)):
            return node
        index = node.target.id
        init = ast.parse(f"{index} = 0").body[0]
        loop = ast.While(test=ast.Compare(left=ast.Name(index, ast.Load()), ops=[ast.Lt()], comparators=[it.args[0]]),
                         body=node.body + [ast.parse(f"{index} += 1").body[0]], orelse=[])
        return [init, loop]


def rewrite_loops(source: str) -> str:
    return ast.unparse(ast.fix_missing_locations(_ForToWhile().visit(ast.parse(source))))


def add_prints_and_comments(source: str, rng: random.Random) -> str:
    """A comment after some lines and a print after some assignments, same indentation."""
    out = []
    for line in source.splitlines():
        out.append(line)
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        match = re.match(r"^([A-Za-z_][A-Za-z_0-9]*) = ", stripped)
        if match and indent and not stripped.endswith((",", "(", "[", "\\")) and rng.random() < 0.5:
            out.append(f"{indent}print('debug', {match.group(1)})  # check")
        elif stripped and not stripped.endswith((",", "(", "[", "\\", ":")) and rng.random() < 0.3:
            out[-1] = line + "  # " + rng.choice(["done", "step", "as in lecture", "TODO tidy"])
    return "\n".join(out) + "\n"


def reformat(source: str) -> str:
    return ast.unparse(ast.parse(source)).replace(" = ", "=").replace(", ", ",") + "\n"


def copy_of(original: Student, name: str, how: str, rng: random.Random, only: str | None = None,
            base: Student | None = None) -> Student:
    """A disguised copy of original (of only one exercise, over base's other functions, when only is set)."""
    student = Student(name, dict(base.sources) if base else {}, failing=set(base.failing) if base else set())
    for exercise, source in original.sources.items():
        if only and exercise != only:
            continue
        if how == "rename":
            source = rename_locals(source, rng)
        elif how == "reformat":
            source = add_prints_and_comments(reformat(source), rng)
        elif how == "loops":
            source = rewrite_loops(source)
        elif how == "all":
            source = add_prints_and_comments(rewrite_loops(rename_locals(source, rng)), rng)
        student.sources[exercise] = source
        if exercise in original.failing:
            student.failing.add(exercise)
    if how == "reorder":
        student.merged = list(student.sources)
        rng.shuffle(student.merged)
    return student


@dataclass
class GeneratedClass:
    students: list[Student]
    copied: set[frozenset[str]]  # the pairs that copied (truth)
    mistake_pair: frozenset[str]  # copied one function with a planted mistake in it
    correct_pair: frozenset[str]  # copied the same function, correct
    skeleton: set[str]
    seen: dict[str, set] = field(default_factory=dict)  # the variants drawn: more students stay distinct


def generate(independent: int = 18, seed: int = 7) -> GeneratedClass:
    rng = random.Random(seed)
    seen: dict[str, set] = {}
    students = [write_student(rng, f"s{i:03d}", seen) for i in range(independent)]
    copies = [copy_of(students[0], "c_rename", "rename", rng), copy_of(students[1], "c_reformat", "reformat", rng),
              copy_of(students[2], "c_loops", "loops", rng), copy_of(students[3], "c_reorder", "reorder", rng),
              copy_of(students[4], "c_all", "all", rng),
              copy_of(students[5], "c_one", "all", rng, only="gradient_check_n",
                      base=write_student(rng, "c_one", seen))]
    buggy = write_student(rng, "m1", seen, bugs={"gradient_check": True})
    mistake = copy_of(buggy, "m2", "rename", rng, only="gradient_check", base=write_student(rng, "m2", seen))
    correct = write_student(rng, "k1", seen)
    control = copy_of(correct, "k2", "rename", rng, only="gradient_check", base=write_student(rng, "k2", seen))
    skeleton = [Student(f"skeleton{i}") for i in range(3)]
    everyone = students + copies + [buggy, mistake, correct, control] + skeleton
    copied = {frozenset({students[i].name, c.name}) for i, c in enumerate(copies)}
    copied |= {frozenset({"m1", "m2"}), frozenset({"k1", "k2"})}
    return GeneratedClass(everyone, copied, frozenset({"m1", "m2"}), frozenset({"k1", "k2"}),
                          {s.name for s in skeleton}, seen)


def write_flat(generated: GeneratedClass, folder: Path) -> Path:
    """A folder of <student>.ipynb files."""
    folder.mkdir(parents=True, exist_ok=True)
    for student in generated.students:
        (folder / f"{student.name}.ipynb").write_text(json.dumps(student.notebook()), encoding="utf-8")
    return folder


def write_graded(generated: GeneratedClass, out: Path) -> Path:
    """An OUT folder as `grade` leaves it (submitted/ and grades_by_exercise.csv), the verdicts from the
    generator's truth: a planted mistake fails its exercise's test, everything else passes."""
    from autograder.grading_output.reports import EXERCISE_COLUMNS, EXERCISES_FILE
    for student in generated.students:
        path = out / "submitted" / student.name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(student.notebook()), encoding="utf-8")
    with open(out / EXERCISES_FILE, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(EXERCISE_COLUMNS)
        for student in generated.students:
            for exercise in WRITERS:
                failed = exercise in student.failing
                writer.writerow([student.name, ASSIGNMENT, f"test_{exercise}", 0 if failed else 1, 1,
                                 "failed" if failed else "passed", ""])
    return out


def scaled(copy_share: float, size: int, seed: int = 11) -> list[Student]:
    """A large class for the benchmark: independent students and disguised copies of them."""
    rng = random.Random(seed)
    seen: dict[str, set] = {}
    students: list[Student] = []
    while len(students) < size:
        if students and rng.random() < copy_share:
            original = rng.choice(students)
            how = rng.choice(["rename", "reformat", "loops", "all", "reorder"])
            students.append(copy_of(original, f"copy{len(students):04d}_of_{original.name}", how, rng))
        else:
            students.append(write_student(rng, f"s{len(students):04d}", seen))
    return students
