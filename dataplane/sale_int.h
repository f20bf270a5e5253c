/* What sale.c lends recover.c (the sale table's recovery): not for other modules. */
#ifndef FS_SALE_INT_H
#define FS_SALE_INT_H

#include <stdint.h>

#include "sale.h"

/** Index of published sale @p s in t->slots (its probe); @p s must be published. cp only. */
uint32_t fs_sale_slot(const struct fs_sale_table *t, const struct fs_sale *s);

/** Remember @p sale_id as deleted (never created again). 0 or -ENOMEM. cp only. */
int fs_sale_mark_deleted(struct fs_sale_table *t, uint32_t sale_id);

#endif
