// A highlight.js grammar for the functional-curation protocol language (compact syntax).

export default function protocolLanguage(hljs) {
  const KEYWORDS = {
    keyword: [
      "namespace", "import", "as", "inputs", "library", "units", "model", "interface", "tasks", "post-processing",
      "outputs", "plots", "plot", "using", "against", "key", "simulation", "timecourse", "oneStep", "nested",
      "range", "uniform", "vector", "while", "modifiers", "at", "start", "each", "end", "loop", "set", "save",
      "reset", "nests", "protocol", "select", "input", "output", "optional", "var", "define", "clamp", "to",
      "convert", "from", "independent", "lines", "points", "linespoints", "default", "lambda", "return", "if",
      "then", "else", "assert", "parallel", "sequential", "step", "for", "with", "in", "units",
    ],
    literal: ["null", "true", "false"],
    built_in: ["map", "fold", "find", "Shape", "Index", "NaN", "Stretch", "Interpolate", "Diff", "Max", "Min",
      "Sum", "Product", "Mean", "Join", "Transpose", "Grad", "Window", "Sort"],
  };
  return {
    name: "Protocol",
    aliases: ["fcp"],
    keywords: KEYWORDS,
    contains: [
      hljs.HASH_COMMENT_MODE,
      hljs.QUOTE_STRING_MODE,
      { className: "string", begin: /'/, end: /'/ },
      { className: "number", begin: /\b\d+(\.\d+)?([eE][-+]?\d+)?\b/ },
      { className: "symbol", begin: /\b[A-Za-z_][\w]*:[A-Za-z_][\w]*/ },
      { className: "type", begin: /::\s*[A-Za-z_]\w*/ },
      { className: "operator", begin: /[=<>!]=?|[-+*/^&|]/, relevance: 0 },
    ],
  };
}
