"""The mapping-language reader on hand-written items in the study's style (our own wording), covering
every phrasing the released files use and paraphrases of them."""

import pytest

from unisandbox.tasks.mapping_lang import read_mapping, resolve

# (prompt, expected object or the status when there is none)
WELL_POSED = [
    # quoted symbols, numbers as intermediate symbols, objects with an article, rules out of order
    (
        "Rule 1: The number 5 represents a pear. Rule 2: The symbol '$' maps to the number 6. Rule 3: The number 6 "
        "represents a plum. Rule 4: The letter 'K' refers to the symbol '@'. Rule 5: The symbol '@' maps to the number "
        "5. Rule 6: The letter 'L' refers to the symbol '$'. Please generate the fruit represented by the letter 'L'.",
        "plum",
        "L -> $ -> 6 -> plum",
    ),
    # bare letters and symbols, typed and untyped, link verbs of every kind
    (
        "Rule 1: The symbol & signifies kettle. Rule 2: Letter P refers to the symbol &. Rule 3: Letter Q denotes "
        "the symbol ~. Rule 4: The symbol ~ stands for toaster. Please generate the appliance represented by the letter 'P'.",
        "kettle",
        None,
    ),
    (
        "Rule 1: 'B' pertains to '*'. Rule 2: '*' signs onto 4. Rule 3: 4 equates to ladder. Please generate the tool "
        "represented by the letter 'B'.",
        "ladder",
        None,
    ),
    (
        "Rule 1: '%' is a symbol for a violin. Rule 2: 'T' translates to '%'. Please generate the item represented "
        "by the letter 'T'.",
        "violin",
        None,
    ),
    (
        "Rule 1: 2 is a spoon. Rule 2: '!' links to 2. Rule 3: 'R' goes to '!'. Please generate the object "
        "represented by the symbol 'R'.",
        "spoon",
        None,
    ),
    (
        "Rule 1: 9 is for owl. Rule 2: The letter D is linked to * symbol. Rule 3: * bonds with 9. Please generate "
        "the bird represented by the letter 'D'.",
        "owl",
        None,
    ),
    (
        "Rule 1: 8 is designated for lantern. Rule 2: X leads to 8. Please generate the light represented by the "
        "letter 'X'.",
        "lantern",
        None,
    ),
    (
        "Rule 1: 7 connects to compass. Rule 2: Letter Q bonds with 7. Please generate the item associated with 'Q'.",
        "compass",
        None,
    ),
    # "which means" inside one rule; multi-character symbols; a compound object
    (
        "Rule 1: 'ZZ' stands for the number 12, which means teddy bear. Rule 2: '&#' refers to 'ZZ'. Please generate "
        "the toy represented by the symbol '&#'.",
        "teddy bear",
        "&# -> ZZ -> 12 -> teddy bear",
    ),
    # sentence ends right after a symbol ("!." and "?.") and symbols that look like punctuation
    (
        "Rule 1: Letter F maps to !. Rule 2: ? means harp. Rule 3: ! stands for ?. Please generate the instrument "
        "represented by the letter 'F'.",
        "harp",
        None,
    ),
    (
        "Rule 1: The symbol ] stands for the digit 3. Rule 2: The digit 3 means anchor. Rule 3: - refers to ]. "
        "Rule 4: M maps to -. Please generate the object represented by the letter 'M'.",
        "anchor",
        None,
    ),
    # a stray space before the period and no space after it
    (
        "Rule 1: % means a shovel. Rule 2: The number 4 represents % .Rule 3: Letter K maps to 4. Please generate "
        "the item represented by the letter 'K'.",
        "shovel",
        None,
    ),
    # the query names a number, with or without quotes, and a query with no category word
    (
        "Rule 1: The number 6 represents a sofa. Rule 2: 'A' maps to 6. Please generate the item represented by the "
        "number 6.",
        "sofa",
        None,
    ),
    (
        "Rule 1: % stands for drum. Rule 2: The number 8 represents %. Please generate the instrument represented by "
        "number '8'.",
        "drum",
        None,
    ),
    (
        "Rule 1: The character @ signifies a bell. Rule 2: Letter G represents @. Please generate the represented by "
        "the letter 'G'.",
        "bell",
        None,
    ),
    # the hashtag, "equals", passive voice and our own phrasings without rule numbers
    (
        "Rule 1: The hashtag '#' represents melon. Rule 2: Letter E equals '#'. Please generate the fruit represented "
        "by the letter 'E'.",
        "melon",
        None,
    ),
    (
        "Tulips are represented by the symbol #. The symbol # is represented by the letter B. Draw what the letter B "
        "represents.",
        "tulips",
        "B -> # -> tulips",
    ),
    (
        "Let the symbol S denote hats. Read the letter K as the symbol S. Whenever you see the digit 4, think of the "
        "letter K. Depict whatever the digit 4 represents.",
        "hats",
        "4 -> K -> S -> hats",
    ),
    ("The symbol A represents chairs. The letter B means symbol A. Draw what B represents.", "chairs", None),
    # numbered lines, arrows and semicolons, a noun inside the link, "corresponds with", "is equivalent to"
    (
        "1. The symbol # stands for a violin.\n2. The letter K maps to #.\nGenerate the instrument that K stands for.",
        "violin",
        "K -> # -> violin",
    ),
    ("Rules: A -> 3; 3 -> kite. Draw what A represents.", "kite", "A -> 3 -> kite"),
    (
        "Rule 1: 5 is the code for a drum. Rule 2: 'Z' maps to 5. Please generate the instrument represented by the "
        "letter 'Z'.",
        "drum",
        None,
    ),
    (
        "Rule 1: The letter 'Q' corresponds with the symbol '&'. Rule 2: The symbol '&' is equivalent to a hammer. "
        "Please draw the object that the letter 'Q' represents.",
        "hammer",
        None,
    ),
    (
        "Rule 1: A teapot is represented by the number 2. Rule 2: The letter 'R' represents the number 2. Please "
        "generate the item represented by the letter 'R'.",
        "teapot",
        None,
    ),
    (
        "Rule 1: 'B' maps to 6. Rule 2: 6 means a lantern. What does the letter 'B' represent? Draw it.",
        "lantern",
        None,
    ),
    # a rule that starts like a query, a colon link, quoted object words, arrows, other symbols
    (
        "Picture frames are represented by the symbol #. The letter B maps to #. Draw what B represents.",
        "picture frames",
        "B -> # -> picture frames",
    ),
    (
        "Rule 1: 9: drum. Rule 2: 'Z' maps to 9. Generate the thing that is represented by the letter 'Z'.",
        "drum",
        None,
    ),
    (
        "Rule 1: 3 is linked to 'sofa'. Rule 2: 'Q' is 3. Please generate the object that corresponds to the letter "
        "'Q'.",
        "sofa",
        None,
    ),
    ("Rule 1: 'C' → 9. Rule 2: 9 = drum. Please generate the image for 'C'.", "drum", None),
    (
        "Rule 1: The symbol '€' stands for a pair of shoes. Rule 2: 'Q' maps to '€'. Please generate the item "
        "represented by 'Q'.",
        "pair of shoes",
        None,
    ),
    # lower-case letters named as symbols, and "?" / "|" as symbols at the end of the query
    (
        "Rule 1: The symbol q represents kettles. Rule 2: The symbol r represents jugs. Please generate the object "
        "represented by the symbol r.",
        "jugs",
        None,
    ),
    (
        "Rule 1: The symbol ? represents limes. Rule 2: The symbol | represents figs. Please generate the fruit "
        "represented by the symbol ?.",
        "limes",
        None,
    ),
    (
        "Rule 1: The symbol ? represents limes. Rule 2: The symbol | represents figs. Please generate the fruit "
        "represented by the symbol |.",
        "figs",
        None,
    ),
]


@pytest.mark.parametrize("prompt,obj,derivation", WELL_POSED)
def test_well_posed_items_resolve(prompt, obj, derivation):
    res = resolve(read_mapping(prompt))
    assert (res.status, res.object) == ("ok", obj), res.derivation()
    if derivation:
        assert res.derivation() == derivation


ILL_POSED = [
    (
        "Rule 1: % stands for radio. Rule 2: Letter F maps to !. Rule 3: ? means table. Please generate the object "
        "represented by the letter 'F'.",
        "undefined",
        "no rule says what ! stands for",
    ),
    (
        "Rule 1: The symbol '%' is mapped to the letter 'X'. Rule 2: 8 means book. Rule 3: The letter 'Z' represents "
        "the symbol '%'. Please generate the object represented by the letter 'Z'.",
        "undefined",
        "Z -> % -> X -> ?",
    ),
    (
        "Rule 1: 'A' maps to 'B'. Rule 2: 'B' maps to 'A'. Please generate the item represented by the letter 'A'.",
        "unresolved",
        "cycle",
    ),
    (
        "Rule 1: 'A' maps to 3. Rule 2: 3 means lamp. Rule 3: 3 means vase. Please generate the item represented by "
        "the letter 'A'.",
        "ambiguous",
        "3 stands for lamp and vase",
    ),
    (
        "Tulips are represented by the symbol #. The letter B is represented by the symbol #. Draw what the symbol # "
        "represents.",
        "ambiguous",
        "# stands for tulips and B",
    ),
    ("Rule 1: 7 connects to newsletter. Rule 2: Letter W bonds with 7.", "undefined", "no query"),
    (
        "Rule 1: 7 means cup. Please generate the item represented by the letter 'A' or the letter 'B'.",
        "undefined",
        "several symbols",
    ),
]


@pytest.mark.parametrize("prompt,status,says", ILL_POSED)
def test_ill_posed_items_are_named_never_guessed(prompt, status, says):
    res = resolve(read_mapping(prompt))
    assert res.status == status and res.object is None
    assert says in res.derivation()


def test_unreadable_sentence_is_reported_not_skipped():
    m = read_mapping(
        "Rule 1: The letter A, surprisingly, and the symbol % together. Rule 2: % means cup. "
        "Please generate the item represented by the letter 'A'."
    )
    assert m.unreadable and resolve(m).status == "unreadable"
