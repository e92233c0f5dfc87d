/* SPDX-License-Identifier: MIT */
#pragma once

/* Intrusive doubly-linked lists: the items are structs with two link pointers (`prev` and
 * `next`, or others named in the _M forms, for an item on two lists), the list is a pointer
 * to its first item (NULL when empty). Macros, not functions, so that any such struct can
 * use them; head is evaluated more than once, item once. */

/* Insert item at the head of the list. */
#define LIST_PREPEND_M(head, item, prev, next)                   \
        do {                                                     \
                __typeof__(item) _item_ = (item);                \
                                                                 \
                _item_->prev = NULL;                             \
                _item_->next = (head);                           \
                if (_item_->next)                                \
                        _item_->next->prev = _item_;             \
                (head) = _item_;                                 \
        } while (0)

/* Take item out of the list; its links are NULL afterwards. */
#define LIST_UNLINK_M(head, item, prev, next)                    \
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

#define LIST_PREPEND(head, item) LIST_PREPEND_M(head, item, prev, next)
#define LIST_UNLINK(head, item) LIST_UNLINK_M(head, item, prev, next)
