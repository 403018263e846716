using BottleneckPipeline.Cache;

namespace BottleneckPipeline.FineTune;

/// <summary>Views read from the prefix cache: a training example gets one of its cached views each epoch.</summary>
internal sealed class CachedActivations(IReadOnlyList<FineTuneExample> examples, BottleneckCache cache, int views)
    : ActivationSource(examples, cache.Dimension)
{
    public override int DrawView(int epoch, Training.SeededRandom random) => random.NextInt(views);

    public override void Write(int index, int view, Span<float> dest)
    {
        if (!cache.TryGet(PrefixCache.KeyOf(Examples[index].ContentId, view), dest))
            throw new InvalidOperationException($"view {view} of {Examples[index].RelPath} is not in the loaded prefix cache");
    }
}
