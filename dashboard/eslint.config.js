// ESLint (flat config) for the dashboard, run by test.sh: any error or warning fails the suite.
// Types are vue-tsc's job (test.sh runs it first); this adds the core rules for likely bugs,
// typescript-eslint's recommended rules, and Vue's rules for templates and components (the style guide's
// essential, strongly recommended and recommended sets).
// Not the type-aware rule sets (recommendedTypeChecked): they build a TypeScript program of their own and
// took the lint from ~8 s to ~30 s of CPU on the 2-core machines, for findings vue-tsc mostly covers.
import js from "@eslint/js";
import vue from "eslint-plugin-vue";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "test-results/", "src/api/schema.d.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs["flat/recommended"],
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      // src/ runs in the browser; test/, perf/ and the configs in node
      globals: { ...globals.browser, ...globals.node },
    },
  },
  {
    files: ["**/*.vue"],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    rules: {
      // Line layout, not correctness: the templates keep a short element and its attributes on one line
      // where it fits, and the project has no formatter whose output these rules would match.
      "vue/max-attributes-per-line": "off",
      "vue/singleline-html-element-content-newline": "off",
      // `_name` marks a parameter a signature needs but the body does not use.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
