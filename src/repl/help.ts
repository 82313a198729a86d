// Text of the shell's `help` command and its topics.

interface Entry {
  syntax: string;
  help: string;
}

const EXAMPLES: Array<[string, string]> = [
  ['data', 'show all documents'],
  ['data[x] = _', 'show all top level keys'],
  ['data.io.k8s.image_policy.verify', 'evaluate the image policy decision'],
];

const COMMANDS: Entry[] = [
  { syntax: '<stmt>', help: 'evaluate the statement (a query, or a rule to add to the active module)' },
  { syntax: 'package <term>', help: 'change active package' },
  { syntax: 'import <term>', help: 'add import to active module' },
  { syntax: 'show', help: 'show active module definition' },
  { syntax: 'show debug', help: 'show shell settings' },
  { syntax: 'unset <var>', help: 'unset rules in currently active module' },
  { syntax: 'unset-package <var>', help: 'remove a package defined in the shell' },
  { syntax: 'json', help: 'set output format to JSON' },
  { syntax: 'pretty', help: 'set output format to pretty' },
  { syntax: 'pretty-limit <n>', help: 'set pretty value output limit (0 = no limit)' },
  { syntax: 'notes', help: 'toggle printing of trace() notes' },
  { syntax: 'strict-builtin-errors', help: 'toggle strict built-in error mode' },
  { syntax: 'dump [path]', help: 'dump raw data in storage (to a file when a path is given)' },
  { syntax: 'help [topic]', help: 'print this message' },
  { syntax: 'exit', help: 'exit out of shell (or ctrl+d)' },
  { syntax: 'ctrl+l', help: 'clear the screen' },
];

const TOPICS: Record<string, { comment: string; text: string }> = {
  input: {
    comment: 'how to set input document',
    text: `
Input
=====

Policies read the request they decide on from the "input" document. In the shell,
input is whatever the rule data.repl.input evaluates to: define "input" (or rules
below it) in package repl and every query after that sees it.

For example, with the bundled mock ImageReview documents:

	# Switch to the repl package and set the whole input document.
	> package repl
	> input = data.mock.allowed

	# Evaluate the webhook's decision for that input.
	> data.io.k8s.image_policy.verify

	# Change the input: remove the old definition first.
	> unset input
	> input = data.mock.denied

Input can also be built piece by piece:

	> package repl.input
	> spec = {"containers": [{"image": "nginx:1.25"}], "namespace": "default"}
	> package repl
	> input.spec.namespace
	"default"

A single query can also override it:

	> data.io.k8s.image_policy.verify with input as {"spec": {"containers": []}}
`,
  },
};

function titled(title: string): string {
  return `\n${title}\n${'='.repeat(title.length)}\n\n`;
}

/** The `help` text: examples, commands and topics. */
export function helpText(prompt: string): string {
  let out = titled('Examples');
  const exWidth = Math.max(...EXAMPLES.map(([e]) => e.length)) + 1;
  for (const [ex, comment] of EXAMPLES) out += `${prompt}${ex.padEnd(exWidth)} # ${comment}\n`;
  out += '\nCommands\n========\n\n';
  const topicNames = Object.keys(TOPICS).map((t) => `help ${t}`);
  const w = Math.max(...COMMANDS.map((c) => c.syntax.length), ...topicNames.map((t) => t.length));
  for (const c of COMMANDS) out += `${c.syntax.padStart(w)} : ${c.help}\n`;
  out += '\nAdditional Topics\n=================\n\n';
  for (const [name, t] of Object.entries(TOPICS)) out += `${`help ${name}`.padStart(w)} : ${t.comment}\n`;
  return out + '\n';
}

/** Text of `help <topic>`, or undefined for an unknown topic. */
export function helpTopic(topic: string): string | undefined {
  const t = TOPICS[topic];
  return t ? t.text.replace(/^\n/, '\n') : undefined;
}

export function topicNames(): string[] {
  return Object.keys(TOPICS);
}
