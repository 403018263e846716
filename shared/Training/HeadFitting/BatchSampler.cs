using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.Training;

/// <summary>Chooses the training rows of each mini-batch from a seeded generator.</summary>
internal abstract class BatchSampler
{
    public abstract void Next(Span<int> batch);

    public static BatchSampler Create(LabelledVectors train, bool classBalanced, SeededRandom random) =>
        classBalanced ? new ClassBalancedSampler(train, random) : new EpochShuffleSampler(train.Count, random);
}

/// <summary>Every row once per epoch, in a fresh shuffled order each epoch.</summary>
internal sealed class EpochShuffleSampler : BatchSampler
{
    private readonly SeededRandom _random;
    private readonly int[] _order;
    private int _position;

    public EpochShuffleSampler(int count, SeededRandom random)
    {
        if (count == 0) throw new ArgumentException("the train split is empty");
        _random = random;
        _order = Enumerable.Range(0, count).ToArray();
        _random.Shuffle(_order);
    }

    public override void Next(Span<int> batch)
    {
        for (var k = 0; k < batch.Length; k++)
        {
            if (_position == _order.Length)
            {
                _random.Shuffle(_order);
                _position = 0;
            }
            batch[k] = _order[_position++];
        }
    }
}

/// <summary>
/// retrain.py's way: each draw picks a class uniformly (among classes with train rows), then a row
/// of it uniformly, so small classes weigh as much as large ones.
/// </summary>
internal sealed class ClassBalancedSampler : BatchSampler
{
    private readonly SeededRandom _random;
    private readonly int[][] _byClass;

    public ClassBalancedSampler(LabelledVectors train, SeededRandom random)
    {
        _random = random;
        _byClass = train.IndicesByClass().Where(c => c.Length > 0).ToArray();
        if (_byClass.Length == 0) throw new ArgumentException("the train split is empty");
    }

    public override void Next(Span<int> batch)
    {
        for (var k = 0; k < batch.Length; k++)
        {
            var rows = _byClass[_random.NextInt(_byClass.Length)];
            batch[k] = rows[_random.NextInt(rows.Length)];
        }
    }
}
