namespace BottleneckPipeline.Tests.Cluster;

/// <summary>
/// A test that needs the private Slurm cluster `make test-cluster` brings up (it sets
/// BP_TEST_CLUSTER=1 and SLURM_CONF): skipped, saying so, anywhere else. `make test` leaves the
/// Cluster category out altogether.
/// </summary>
public sealed class ClusterFactAttribute : FactAttribute
{
    public ClusterFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("BP_TEST_CLUSTER") != "1")
            Skip = "needs a Slurm cluster: run make test-cluster (as root)";
    }
}
