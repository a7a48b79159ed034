"""Using a trained model: predict, evaluate on an image folder, class activation maps, export."""
