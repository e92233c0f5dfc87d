/* SPDX-License-Identifier: MIT */
#pragma once

/* Intrusive doubly-linked lists: the items are structs with `prev` and `next` pointers, the
 * list is a pointer to its first item (NULL when empty). Macros, not functions, so that any
 * such struct can use them; head is evaluated more than once, item once. */

/* Insert item at the head of the list. */
#define LIST_PREPEND(head, item)                                 \
        do {                                                     \
                __typeof__(item) _item_ = (item);                \
                                                                 \
                _item_->prev = NULL;                             \
                _item_->next = (head);                           \
                if (_item_->next)                                \
                        _item_->next->prev = _item_;             \
                (head) = _item_;                                 \
        } while (0)

/* Take item out of the list; its prev and next are NULL afterwards. */
#define LIST_UNLINK(head, item)                                  \
        do {                                                     \
                __typeof__(item) _item_ = (item);                \
                                                                 \
                if (_item_->prev)                                \
                        _item_->prev->next = _item_->next;       \
                else                                             \
                        (head) = _item_->next;                   \
                if (_item_->next)                                \
                        _item_->next->prev = _item_->prev;       \
                _item_->prev = _item_->next = NULL;              \
        } while (0)
