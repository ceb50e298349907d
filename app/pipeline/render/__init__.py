"""What the user sees: artefact files, montage and saliency images."""
