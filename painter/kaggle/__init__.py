"""painter on Kaggle: the offline kernel bundle (`bundle`), the kernel script it ships
(`kernel_script`), and a guarded wrapper over the `kaggle` client (`client`)."""
