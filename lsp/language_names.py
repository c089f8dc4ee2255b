"""Names each language has without a file mentioning them: its keywords and the globals
and library names its code uses most. lsp/grounding.py counts these as known, so a
completion that uses `console` in a JavaScript file that never said it is not held to
the made-up-name floor. Python's come from the interpreter; the others are short lists
(a name missing here only needs the model to be sure of it).
"""

from __future__ import annotations

import builtins
import keyword

_C_FAMILY = """
    auto break case char const continue default do double else enum extern float for goto if
    inline int long register return short signed sizeof static struct switch typedef union
    unsigned void volatile while bool true false NULL nullptr size_t uint8_t uint16_t uint32_t
    uint64_t int8_t int16_t int32_t int64_t printf fprintf sprintf snprintf malloc calloc realloc
    free memcpy memset strlen strcmp strcpy stderr stdout stdin assert exit
"""
_CPP = """
    class namespace template typename public private protected virtual override final using new
    delete this throw try catch operator friend explicit noexcept constexpr static_cast
    dynamic_cast reinterpret_cast const_cast std string vector map unordered_map set pair
    make_pair unique_ptr shared_ptr make_unique make_shared move cout cerr endl size begin end
    push_back emplace_back
"""
_JAVASCRIPT = """
    async await break case catch class const continue debugger default delete do else export
    extends finally for function if import in instanceof let new of return super switch this
    throw try typeof var void while yield null undefined true false NaN Infinity console log
    error warn window document globalThis Math JSON Object Array String Number Boolean Promise
    Map Set Date Error RegExp Symbol parseInt parseFloat setTimeout clearTimeout setInterval
    clearInterval require module exports process fetch length push map filter reduce forEach
    then resolve reject keys values entries
"""
_TYPESCRIPT = """
    interface type enum implements declare namespace abstract readonly private public protected
    any unknown never string number boolean void object keyof as is Record Partial Readonly
    Pick Omit
"""
_JAVA = """
    abstract assert boolean break byte case catch char class const continue default do double
    else enum extends final finally float for if implements import instanceof int interface long
    native new package private protected public return short static super switch synchronized
    this throw throws transient try void volatile while true false null var record String
    Integer Long Double Boolean Object List ArrayList Map HashMap Set HashSet Override System
    out println Exception RuntimeException Math
"""
_GO = """
    break case chan const continue default defer else fallthrough for func go goto if import
    interface map package range return select struct switch type var true false nil iota append
    cap close copy delete len make new panic recover print println error string int int64 int32
    uint byte rune float64 bool any err fmt Println Printf Sprintf Errorf
"""
_RUST = """
    as async await break const continue crate dyn else enum extern false fn for if impl in let
    loop match mod move mut pub ref return self Self static struct super trait true type unsafe
    use where while Some None Ok Err Option Result String Vec Box Rc Arc HashMap println print
    format vec panic assert assert_eq unwrap expect clone to_string into iter new len push
    usize isize u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bool str
"""
_SHELL = """
    if then else elif fi for while until do done case esac function in return local export echo
    printf read set unset shift exit cd test true false
"""


def _words(*groups: str) -> frozenset[str]:
    return frozenset(word for group in groups for word in group.split())


_PYTHON = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self", "cls"}

#: file suffix -> names the language has.
LANGUAGE_NAMES: dict[str, frozenset[str]] = {
    **dict.fromkeys((".py", ".pyi", ".pyw"), _PYTHON),
    **dict.fromkeys((".c", ".h"), _words(_C_FAMILY)),
    **dict.fromkeys((".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"), _words(_C_FAMILY, _CPP)),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), _words(_JAVASCRIPT)),
    **dict.fromkeys((".ts", ".tsx", ".mts", ".cts"), _words(_JAVASCRIPT, _TYPESCRIPT)),
    ".java": _words(_JAVA),
    ".go": _words(_GO),
    ".rs": _words(_RUST),
    **dict.fromkeys((".sh", ".bash", ".zsh"), _words(_SHELL)),
}
