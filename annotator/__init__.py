"""AniCaption: experts that infer PKS tags from pixels, fused into validated tags and a directive."""
