export const BEES = [
  'Honeybees live in colonies that can hold tens of thousands of bees.',
  'Worker bees collect nectar and pollen from flowers and bring them back to the hive.',
  'In the hive, bees turn nectar into honey and store the honey in wax combs.',
  'The queen bee lays the eggs that keep the colony alive.',
  'My neighbour painted his fence blue last summer.',
  'Bees also pollinate crops, which makes honeybee colonies valuable to farmers.',
].join(' ');
