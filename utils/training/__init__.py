"""The generator's training: options (`options`), the loop (`loop`), the tasks (`tasks`) and their
straightforward reference (`reference_tasks`), the update rule (`optimization`), schedules
(`schedules`), torchrun training (`distributed`) and non-finite diagnosis (`divergence`). Imports
`utils.evaluation` (validation scoring) and `utils.core`."""
