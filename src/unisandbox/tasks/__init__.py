"""Synthetic tasks: item schema, generators, answer verifier (audit), study-format import/export.

Public API (all generators are pure functions of a seed and a config; each module has a
GENERATOR_VERSION that is bumped whenever its output changes):

Math (`unisandbox.tasks.math`)
    math_items(seed, level, n, split="test", config=MathConfig()) -> list[Item]
        Level 1: one of + - * /; level 2: two operations with at least one of √, ^2/^3, %; level 3:
        three operations mixing both, sometimes ending "then rounded down". Answers 1-4 (levels 1-2) or
        1-5 (level 3), balanced. `Item.steps` is the worked solution, e.g.
        ("9 - 5 = 4", "the square root of 4 = 2", "2 * 3 = 6", "6 / 2 = 3", "answer: 3 cups").
    math_facts(level, config=MathConfig()) -> list[Fact]
        Every single-operation step (Fact.text, e.g. "12 / 3 = 4") a level's items can contain.
    MathConfig: max_operand (20), max_intermediate (100), max_answer, floor_fraction, test_fraction,
        split_key ("expression_object" | "expression"), holdout_objects, holdout_phrasings, objects, styles.
    PHRASINGS (ids m0-m9), PROBE_TEMPLATE.

Symbolic mapping (`unisandbox.tasks.mapping`)
    mapping_items(seed, level, n, split="test", config=MappingConfig()) -> list[Item]
        n A/B pairs = 2n items (ids `map-l{level}-{split}-{index:04d}_A|_B`, `group` = pair id).
        Level k: k hops, 2k shuffled rules. Steps: ("B -> #", "# -> chair", "answer: chair").
    chain_steps(rules, start) -> list[str]
    MappingConfig: test_fraction, holdout_objects, holdout_phrasings (r0-r7 rules, q0-q5 queries),
        objects, symbols.

Knowledge (`unisandbox.tasks.knowledge`)
    knowledge_world(seed, n_characters=10) -> KnowledgeWorld
        .club, .characters (Character: name, gender, age, hair, skin, fruit, flower, pair),
        .pairs ((pair id, name, name), ...), .items (3 forward items per character, then 4 inverse
        items per pair; split "test"), .corpus (CorpusTurn, ~40 per character), .corpus_jsonl(),
        .conversations_jsonl() (the study's conversation format).
    person_description(PersonAnswer) -> "portrait: female, kid, red hair, dark skin"
        (the final step of portrait items, i.e. the drawing prompt for a portrait).

Shared (`unisandbox.tasks.common`)
    split_of(key, test_fraction) -> "train" | "test"   (seed-independent pools)
    rng_for(seed, *parts) -> numpy Generator

Suite, audit, formats (`unisandbox.tasks.suite`, `.audit`, `.parse`, `.mapping_lang`, `.english`,
`.study_format`, `.study_import`, `.stats`)
    generate_suite(seed, tasks, split, size, ...) -> {file name: text}; write_suite(out, files).
    audit_file(path) / audit_item(item) -> Finding(id, kind, detail, derived, derivation, ...), per item;
    summarize(findings); render_report(findings, command) (Markdown).
    find_arithmetic(text), mapping_lang.read_mapping(text) + resolve(m): independent prompt-text readers;
    english.same_noun(a, b): plural/compound/"pairs of"/synonym-aware noun comparison.
    read_study_file(path, level=None) -> list[Item] (strict); study_import.import_study_file(path) ->
    ImportResult(items with stated + audited answers, findings, skipped rows); study_jsonl(items) (export);
    read_conversations(path) / conversations_jsonl(conversations) (training conversation format).
"""
