(*

category:        Test
synopsis:        A hierarchical model with a deleted rate rule.
componentTags:   Parameter, comp:Deletion, comp:ModelDefinition, comp:ReplacedElement, comp:Submodel
testTags:        
testType:        TimeCourse
levels:          3.1, 3.2
generatedBy:     Analytic
packagesPresent: comp

 The rate rule in the submodel is deleted, and should not affect the parameter.

The 'flattened' version of this hierarchical model contains:
* 1 parameter (p8)
The initial conditions are as follows:

[{width:35em,margin: 1em auto}|       | *Value* | *Constant* |
| Initial value of parameter p8 | $8$ | variable |]

Note: The test data for this model was generated from an analytical
solution of the system of equations.

*)

