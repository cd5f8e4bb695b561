/* SPDX-License-Identifier: MIT */
/*
 * signature.cc - step 2: check a tagged function's types and derive its
 * signature string (docs/abi.md, section 1).
 *
 * Everything the wire cannot carry faithfully is refused here, at the line
 * of the offending parameter, with what to write instead. The same walk
 * produces the string the runtime's codec interprets on both ends.
 */
#include "tl_plugin.h"
#include "stringpool.h"
#include "attribs.h"
#include "stor-layout.h"
#include "diagnostic-core.h"

/* Set while the type of a captured global is spelled: a char pointer field
 * is then a string ('s'), as a char pointer global is (capture.cc). */
static bool tl_sig_capture;

/* A value that is copied whole: scalar, struct, or (inside a struct) array. */
static bool tl_sig_value(struct tl_strbuf *b, tree type, location_t loc, tree fndecl,
			 const char *what, bool in_struct)
{
	HOST_WIDE_INT size = int_size_in_bytes(type);

	switch (TREE_CODE(type)) {
	case BOOLEAN_TYPE:
		tl_buf_puts(b, "b");
		return true;
	case INTEGER_TYPE:
	case ENUMERAL_TYPE:
		if (size != 1 && size != 2 && size != 4 && size != 8 && size != 16)
			break;
		tl_buf_printf(b, "%c%d", TYPE_UNSIGNED(type) ? 'u' : 'i', (int)size);
		return true;
	case REAL_TYPE:
		if (TYPE_MAIN_VARIANT(type) == float_type_node) {
			tl_buf_puts(b, "f4");
			return true;
		}
		if (TYPE_MAIN_VARIANT(type) == double_type_node) {
			tl_buf_puts(b, "f8");
			return true;
		}
		error_at(loc, "turbolift: %s of %qD has type %qT, which the wire format "
			 "does not carry; use %<double%>", what, fndecl, type);
		return false;
	case RECORD_TYPE: {
		bool first = true;
		tree field;

		if (!COMPLETE_TYPE_P(type) || size < 0) {
			error_at(loc, "turbolift: %s of %qD has incomplete type %qT",
				 what, fndecl, type);
			return false;
		}
		tl_buf_printf(b, "{%d:%d:", (int)size, (int)TYPE_ALIGN_UNIT(type));
		for (field = TYPE_FIELDS(type); field; field = DECL_CHAIN(field)) {
			if (TREE_CODE(field) != FIELD_DECL)
				continue;
			if (DECL_BIT_FIELD(field) || DECL_BIT_FIELD_TYPE(field)) {
				error_at(loc, "turbolift: %s of %qD: bit-field %qD of %qT cannot "
					 "cross the wire; use a whole integer field",
					 what, fndecl, field, type);
				return false;
			}
			if (TREE_CODE(TREE_TYPE(field)) == ARRAY_TYPE &&
			    (!TYPE_DOMAIN(TREE_TYPE(field)) ||
			     !TYPE_MAX_VALUE(TYPE_DOMAIN(TREE_TYPE(field))) ||
			     integer_zerop(TYPE_SIZE_UNIT(TREE_TYPE(field))))) {
				error_at(loc, "turbolift: %s of %qD: flexible array member %qD of %qT "
					 "has no size on the wire; pass the elements as a pointer and "
					 "a count with %<__attribute__((access(read_only, N, M)))%>",
					 what, fndecl, field, type);
				return false;
			}
			if (TREE_CODE(TREE_TYPE(field)) == POINTER_TYPE && tl_sig_capture &&
			    TYPE_MAIN_VARIANT(TREE_TYPE(TREE_TYPE(field))) == char_type_node) {
				tl_buf_printf(b, "%s%d=s", first ? "" : ",",
					      (int)int_byte_position(field));
				first = false;
				continue;
			}
			if (TREE_CODE(TREE_TYPE(field)) == POINTER_TYPE) {
				error_at(loc, "turbolift: %s of %qD: pointer field %qD of %qT cannot "
					 "cross the wire; use a fixed-size array field, or pass the "
					 "data as its own parameter with an access attribute",
					 what, fndecl, field, type);
				return false;
			}
			tl_buf_printf(b, "%s%d=", first ? "" : ",", (int)int_byte_position(field));
			first = false;
			if (!tl_sig_value(b, TREE_TYPE(field), loc, fndecl, what, true))
				return false;
		}
		if (first) {
			error_at(loc, "turbolift: %s of %qD: struct %qT has no fields to send",
				 what, fndecl, type);
			return false;
		}
		tl_buf_puts(b, "}");
		return true;
	}
	case ARRAY_TYPE: {
		tree domain = TYPE_DOMAIN(type);

		if (!in_struct || !domain || !TYPE_MAX_VALUE(domain) ||
		    !tree_fits_uhwi_p(TYPE_MAX_VALUE(domain)))
			break;
		tl_buf_printf(b, "[" HOST_WIDE_INT_PRINT_UNSIGNED "]",
			      tree_to_uhwi(TYPE_MAX_VALUE(domain)) + 1);
		return tl_sig_value(b, TREE_TYPE(type), loc, fndecl, what, true);
	}
	case UNION_TYPE:
	case QUAL_UNION_TYPE:
		error_at(loc, "turbolift: %s of %qD is the union %qT, whose active member "
			 "the wire cannot know; send a struct or the member itself",
			 what, fndecl, type);
		return false;
	default:
		break;
	}
	error_at(loc, "turbolift: %s of %qD has type %qT, which cannot cross the wire; "
		 "use integers, floating-point numbers, enums, structs, %<const char *%> strings "
		 "or pointers with an access attribute", what, fndecl, type);
	return false;
}

static bool tl_sig_pointer_param(struct tl_strbuf *b, tree parm, unsigned index, tree fndecl,
				 rdwr_map *access)
{
	location_t loc = DECL_SOURCE_LOCATION(parm);
	tree pointee = TREE_TYPE(TREE_TYPE(parm));
	attr_access *acc = access->get(index);
	static const char mode_letter[] = { '-', 'r', 'w', 'x' };
	char what[64];

	snprintf(what, sizeof(what), "parameter %u", index + 1);

	if (TREE_CODE(pointee) == FUNCTION_TYPE) {
		error_at(loc, "turbolift: parameter %qD of %qD is a function pointer; code cannot "
			 "cross the wire: pass an enum that selects the function instead",
			 parm, fndecl);
		return false;
	}
	if (VOID_TYPE_P(pointee)) {
		error_at(loc, "turbolift: parameter %qD of %qD is %<void *%>, whose size and "
			 "layout the wire cannot know; give it the element type and declare "
			 "%<__attribute__((access(read_only, %u, N)))%> with N the count parameter",
			 parm, fndecl, index + 1);
		return false;
	}
	if (acc && !acc->internal_p && acc->mode >= access_read_only &&
	    acc->mode <= access_read_write) {
		if (acc->sizarg != UINT_MAX) {
			tree size_parm = DECL_ARGUMENTS(fndecl);
			unsigned i;

			for (i = 0; size_parm && i < acc->sizarg; i++)
				size_parm = DECL_CHAIN(size_parm);
			if (!size_parm || !INTEGRAL_TYPE_P(TREE_TYPE(size_parm))) {
				error_at(loc, "turbolift: the count of %qD in %qD must be an integer "
					 "parameter", parm, fndecl);
				return false;
			}
			tl_buf_printf(b, "*%c%u:", mode_letter[acc->mode], acc->sizarg);
		} else {
			tl_buf_printf(b, "&%c", mode_letter[acc->mode]);
		}
		if (TREE_CODE(pointee) == POINTER_TYPE) {
			error_at(loc, "turbolift: parameter %qD of %qD points to pointers, which "
				 "cannot cross the wire", parm, fndecl);
			return false;
		}
		return tl_sig_value(b, pointee, loc, fndecl, what, false);
	}
	if (TYPE_MAIN_VARIANT(pointee) == char_type_node) {
		tl_buf_puts(b, "s");
		return true;
	}
	error_at(loc, "turbolift: pointer parameter %qD of %qD needs an access attribute "
		 "saying how its data moves, e.g. "
		 "%<__attribute__((access(read_only, %u, N)))%> for N elements counted by "
		 "parameter N, or %<access(read_write, %u)%> for one object",
		 parm, fndecl, index + 1, index + 1);
	return false;
}

char *tl_derive_signature(tree fndecl)
{
	struct tl_strbuf b = { NULL, 0, 0 };
	tree ret = TREE_TYPE(TREE_TYPE(fndecl));
	location_t loc = DECL_SOURCE_LOCATION(fndecl);
	rdwr_map access;
	tree parm;
	unsigned index = 0;
	bool ok = true;

	init_attr_rdwr_indices(&access, TYPE_ATTRIBUTES(TREE_TYPE(fndecl)));

	/* 1. the return value */
	if (VOID_TYPE_P(ret)) {
		tl_buf_puts(&b, "v");
	} else if (TREE_CODE(ret) == POINTER_TYPE) {
		error_at(loc, "turbolift: %qD returns a pointer, which would point into another "
			 "process; return a struct by value, or write through a parameter "
			 "declared with %<__attribute__((access(write_only, N, M)))%>", fndecl);
		ok = false;
	} else {
		ok = tl_sig_value(&b, ret, loc, fndecl, "the return value", false);
	}

	/* 2. each parameter, in order */
	tl_buf_puts(&b, "(");
	for (parm = DECL_ARGUMENTS(fndecl); parm && ok; parm = DECL_CHAIN(parm), index++) {
		tree type = TREE_TYPE(parm);
		char what[64];

		if (index)
			tl_buf_puts(&b, ",");
		if (TREE_CODE(type) == POINTER_TYPE) {
			ok = tl_sig_pointer_param(&b, parm, index, fndecl, &access);
			continue;
		}
		snprintf(what, sizeof(what), "parameter %u", index + 1);
		ok = tl_sig_value(&b, type, DECL_SOURCE_LOCATION(parm), fndecl, what, false);
	}
	tl_buf_puts(&b, ")");
	if (!ok) {
		tl_buf_free(&b);
		return NULL;
	}
	return b.data;
}

/* The type of a captured global (docs/abi.md, section 1): a value as for a
 * parameter, or a fixed array, or a char pointer, sent as the string it
 * points at (also as a struct field or array element). Errors are reported
 * at the variable's line; false when it cannot be carried. */
bool tl_capture_type(struct tl_strbuf *out, tree var, tree fndecl)
{
	tree type = TREE_TYPE(var);
	bool ok;
	char *what = concat("the captured global '", IDENTIFIER_POINTER(DECL_NAME(var)), "'", NULL);
	tl_sig_capture = true;
	if (TREE_CODE(type) == POINTER_TYPE &&
	    TYPE_MAIN_VARIANT(TREE_TYPE(type)) == char_type_node) {
		tl_buf_puts(out, "s");
		ok = true;
	} else if (TREE_CODE(type) == ARRAY_TYPE &&
		   TREE_CODE(TREE_TYPE(type)) == POINTER_TYPE &&
		   TYPE_MAIN_VARIANT(TREE_TYPE(TREE_TYPE(type))) == char_type_node &&
		   TYPE_DOMAIN(type) && TYPE_MAX_VALUE(TYPE_DOMAIN(type)) &&
		   tree_fits_uhwi_p(TYPE_MAX_VALUE(TYPE_DOMAIN(type)))) {
		tl_buf_printf(out, "[" HOST_WIDE_INT_PRINT_UNSIGNED "]s",
			      tree_to_uhwi(TYPE_MAX_VALUE(TYPE_DOMAIN(type))) + 1);
		ok = true;
	} else {
		ok = tl_sig_value(out, type, DECL_SOURCE_LOCATION(var), fndecl, what, true);
	}
	tl_sig_capture = false;
	free(what);
	return ok;
}

/* Spell a (checked) parameter or return type as C for the dispatcher. */
bool tl_spell_type(struct tl_strbuf *out, tree type, location_t loc)
{
	tree name = TYPE_NAME(type);

	if (TREE_CODE(type) == POINTER_TYPE) {
		if (!tl_spell_type(out, TREE_TYPE(type), loc))
			return false;
		tl_buf_puts(out, " *");
		if (TYPE_READONLY(type))
			tl_buf_puts(out, "const ");
		return true;
	}
	if (TYPE_READONLY(type))
		tl_buf_puts(out, "const ");
	if (TYPE_VOLATILE(type))
		tl_buf_puts(out, "volatile ");
	if (name && TREE_CODE(name) == TYPE_DECL && DECL_NAME(name)) {
		tl_buf_puts(out, IDENTIFIER_POINTER(DECL_NAME(name)));
		return true;
	}
	if (name && TREE_CODE(name) == IDENTIFIER_NODE) {
		tl_buf_puts(out, TREE_CODE(type) == RECORD_TYPE ? "struct "
			    : TREE_CODE(type) == ENUMERAL_TYPE ? "enum " : "union ");
		tl_buf_puts(out, IDENTIFIER_POINTER(name));
		return true;
	}
	if (VOID_TYPE_P(type)) {
		tl_buf_puts(out, "void");
		return true;
	}
	error_at(loc, "turbolift: type %qT has no name the service can spell; "
		 "give it a tag or a typedef", type);
	return false;
}
