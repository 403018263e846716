namespace BottleneckPipeline.Config;

/// <summary>Inclusive numeric bounds of a config value.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class RangeAttribute(double min, double max) : Attribute
{
    public double Min { get; } = min;
    public double Max { get; } = max;
}

/// <summary>
/// A setting that changes only how fast a result is made, never a bit of it (like extract.threads:
/// the backbone tests check that batch size and thread count change no vector). It is left out of its
/// section's hash, so changing it re-runs nothing.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class SpeedOnlyAttribute : Attribute;

/// <summary>
/// A key whose effect the stages that use it hash themselves, so it is left out of its section's hash: dataset.exclude,
/// whose list of images (resolved against the index) the stages that read the splits take into their inputs hashes,
/// while Ingest and Extract, which hash the dataset section, are not re-run by it (the vectors are keyed by content).
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class HashedByItsStagesAttribute : Attribute;

/// <summary>A computed or bookkeeping property that is not a YAML key.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class NotAKeyAttribute : Attribute;

/// <summary>How an enum value is spelled in the config where the kebab-case of its name would not do
/// (LastTwoStages is last-2-stages). Without it a value is spelled as its name in kebab-case or snake_case.</summary>
[AttributeUsage(AttributeTargets.Field)]
internal sealed class ConfigNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}

/// <summary>What a config key (or section) means: its line in docs/config-reference.md, which is generated from these.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class DocAttribute(string meaning) : Attribute
{
    public string Meaning { get; } = meaning;

    /// <summary>How the reference shows the default where the initial value cannot say it: "required", or the rule an unset key follows.</summary>
    public string? Default { get; set; }
}
