import { DomainError, trimDisplayName } from '../shared/index.ts';

// A display name (a CA certificate's name, an agent certificate's owner) is stored without its
// surrounding white space, and one that is nothing but white space is refused like an empty one
// (issue 13, item 6: "name": "   " was a 201). The rule is src/shared/names.ts'.
export const checkDisplayName = (field: string, value: string): string => {
  const trimmed = trimDisplayName(value);
  if (trimmed === undefined) {
    throw new DomainError('request.invalid', `body.${field} must not be empty or only white space: give it a visible name${field === 'owner' ? ', or leave the field out' : ''}.`);
  }
  return trimmed;
};
