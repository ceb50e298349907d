"""Finding the lesion: the max-tumour slice and its candidate mask."""
