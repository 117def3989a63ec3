// An ESLint rule: a value the server or the user sent reaches the page's HTML only escaped.
//
// HTML sinks are assignments to `innerHTML` / `outerHTML`, `insertAdjacentHTML`'s markup, and
// anything named `…Html` (a variable, or a function's returned value): by that name a value
// says it holds markup already escaped. Every `${…}` of a template literal reaching a sink, and
// the sink's value itself, must be one of
//   - `escapeHtml(…)` or a formatter whose output is digits and punctuation (SAFE_CALLS);
//   - a name ending in `Html`, or a call of one;
//   - a module constant (UPPER_CASE), or a lookup in one (`MOVE_LABELS[m.operation]`);
//   - a literal, a nested template literal (checked in turn), arithmetic, `Math.…(…)`,
//     `x.toFixed(…)`, `list.length`;
//   - `a ? b : c`, `a && b`, `a ?? b`, `a + b`, `[a, b]`, `list.map((x) => …).join('')` of
//     these, `list.map(rowHtml)`.

const SAFE_CALLS = new Set(['escapeHtml', 'number', 'metres', 'pct', 'beijingTime', 'shortDay',
  'Number']);
// Methods whose result is digits and punctuation whatever they are called on.
const NUMERIC_METHODS = new Set(['toFixed', 'toPrecision']);
const SINK_PROPERTIES = new Set(['innerHTML', 'outerHTML']);
const CONSTANT = /^[A-Z][A-Z0-9_]*$/;
const MARKUP = /Html$/;

const nameOf = (node) => {
  if (node?.type === 'Identifier') return node.name;
  if (node?.type === 'MemberExpression' && !node.computed) return node.property.name;
  return null;
};

function returned(fn) {
  if (fn.body.type !== 'BlockStatement') return [fn.body];
  const found = [];
  const visit = (node) => {
    if (!node || typeof node.type !== 'string') return;
    if (node.type === 'ReturnStatement') {
      if (node.argument) found.push(node.argument);
      return;
    }
    if (node !== fn.body && /Function/.test(node.type)) return;
    for (const [key, child] of Object.entries(node)) {
      if (key === 'parent') continue;
      for (const c of Array.isArray(child) ? child : [child]) if (c && typeof c.type === 'string') visit(c);
    }
  };
  visit(fn.body);
  return found;
}

const isFunction = (node) => node?.type === 'ArrowFunctionExpression'
  || node?.type === 'FunctionExpression';

function safe(node) {
  switch (node.type) {
    case 'Literal':
    case 'TemplateLiteral':
      return true;
    case 'Identifier':
      return CONSTANT.test(node.name) || MARKUP.test(node.name) || node.name === 'undefined';
    case 'MemberExpression':
      return (node.object.type === 'Identifier' && CONSTANT.test(node.object.name))
        || (!node.computed && (MARKUP.test(node.property.name) || node.property.name === 'length'));
    case 'ChainExpression':
      return safe(node.expression);
    case 'CallExpression': {
      const name = nameOf(node.callee);
      if (node.callee.type === 'Identifier' && SAFE_CALLS.has(name)) return true;
      if (name && MARKUP.test(name)) return true;
      if (node.callee.type !== 'MemberExpression') return false;
      if (nameOf(node.callee.object) === 'Math' || NUMERIC_METHODS.has(name)) return true;
      if (name === 'join') return safe(node.callee.object);
      if (name === 'map') {
        const [fn] = node.arguments;
        return isFunction(fn) ? returned(fn).every(safe) : MARKUP.test(nameOf(fn) ?? '');
      }
      return false;
    }
    case 'ArrayExpression':
      return node.elements.every((e) => e && safe(e));
    case 'ConditionalExpression':
      return safe(node.consequent) && safe(node.alternate);
    case 'LogicalExpression':
      // `a && b` shows `a` only when it is falsy: false, 0, '', null or undefined.
      return (node.operator === '&&' || safe(node.left)) && safe(node.right);
    case 'BinaryExpression':
      return node.operator !== '+' || (safe(node.left) && safe(node.right));
    case 'UnaryExpression':
    case 'UpdateExpression':
      return true;
    default:
      return false;
  }
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'Server and user values reach innerHTML only through escapeHtml' },
    schema: [],
    messages: {
      unescaped: 'Escape this value (escapeHtml) before it reaches HTML, or build the element '
        + 'with textContent / dataset; a name ending in Html says a value is escaped markup.',
    },
  },
  create(context) {
    const { visitorKeys } = context.sourceCode;
    const reported = new Set();
    const report = (node) => {
      if (reported.has(node)) return;
      reported.add(node);
      context.report({ node, messageId: 'unescaped' });
    };
    // Every template literal inside `node` (map callbacks included) and `node` itself.
    function check(node) {
      if (!node) return;
      if (isFunction(node)) {
        for (const r of returned(node)) check(r);
        return;
      }
      if (!safe(node)) report(node);
      const visit = (n) => {
        if (n.type === 'TemplateLiteral') for (const e of n.expressions) if (!safe(e)) report(e);
        for (const key of visitorKeys[n.type] ?? []) {
          const child = n[key];
          for (const c of Array.isArray(child) ? child : [child]) if (c) visit(c);
        }
      };
      visit(node);
    }
    const checkFunction = (fn) => { for (const r of returned(fn)) check(r); };
    return {
      AssignmentExpression(node) {
        if (node.left.type === 'MemberExpression' && SINK_PROPERTIES.has(nameOf(node.left))) {
          check(node.right);
        }
      },
      CallExpression(node) {
        if (nameOf(node.callee) === 'insertAdjacentHTML') check(node.arguments[1]);
      },
      VariableDeclarator(node) {
        if (node.id.type === 'Identifier' && MARKUP.test(node.id.name) && !SAFE_CALLS.has(node.id.name)) {
          check(node.init);
        }
      },
      FunctionDeclaration(node) {
        if (node.id && MARKUP.test(node.id.name)) checkFunction(node);
      },
    };
  },
};
