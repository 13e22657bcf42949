"""Scoring videos: the generation protocols (`protocols`), metrics (`metrics`), the evaluation
classifier as a scorer (`classifier_scoring`), video scoring with cached real-data statistics
(`video_scoring`), reports (`reports`), learning curves (`learning_curves`) and the direction an
object moves (`motion_direction`). Imports only `utils.core` among the `utils` packages."""
